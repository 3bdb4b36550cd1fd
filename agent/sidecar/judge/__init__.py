"""Signal values and verdicts: from the state to ok / warning / critical.

Owns evaluation (:mod:`.evaluate`: thresholds, learned baselines, ``for`` durations, hysteresis,
budgets, burn rates) and the values it judges: data signals on datasets (:mod:`.data_signals`),
drift of the SDK's feature windows (:mod:`.drift_signals`) and the service signals
(:mod:`.service_signals`); ``_signal_values`` maps each computation shape a signal record names
to its implementation, so no kind is named here; ``_tiers`` judges a burn-rate tier as its
generated alert does. May import ``state``, ``ingest``, ``detectors``,
the spec, the signal records and the catalogue; never ``collectors``, the lifecycle or ``http``.
Public: :mod:`.evaluate` and the three ``*_signals`` modules.
"""
