"""The sidecar (``slo-agent run``): rooms below, lifecycle on top.

Rooms, each importing only the rooms listed before it (and ``detectors``, the spec, the signal
records, the catalogue): :mod:`~agent.sidecar.state` (what the sidecar remembers),
:mod:`~agent.sidecar.ingest` (the doors and applying what they admit),
:mod:`~agent.sidecar.judge` (signal values and verdicts), :mod:`~agent.sidecar.collectors`
(GPU, scrape targets, dataset files). The lifecycle at this level (:mod:`.engine`, the tick,
:mod:`.exposition`, :mod:`.view`, the ``/status`` document, webhooks) composes them; it may import
every room but one, never ``http``: the outermost room, which serves what the lifecycle
publishes. A module whose name starts with ``_`` is private to its room (its own folder). The
rules are enforced by tests/structure/test_import_contract.py; see docs/architecture.md.
"""
