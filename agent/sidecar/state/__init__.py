"""What the sidecar remembers and how it survives a restart.

Owns the in-memory state the worker thread mutates (:mod:`.agent_state`: request slots, sketches,
feature windows, datasets, objective states), what a service reports beyond calls
(:mod:`.service_state`), recent history for the page (:mod:`.history`), snapshots
(:mod:`.persistence`, through :mod:`.jsonsafe` so a NaN cannot reach a file) and what a replica's
role lets it keep (:mod:`.roles`), and the running totals of OTLP-fed models that the sidecar
re-exports (:mod:`.otlp_totals`). May import ``detectors`` and the spec; every other room builds
on it, so it never imports ``ingest``, ``judge``, ``collectors``, the lifecycle or ``http``.
Public: the modules without a leading underscore; ``_fleet_counts`` and ``_slots`` are parts of
:class:`~.agent_state.AgentState`.
"""
