"""The doors: bytes from a client become validated items, and admitted items are applied.

Owns the ``POST /v1/ingest`` payload models and errors (:mod:`.payload`, the JSON door and the
shared item shapes), the columnar door (:mod:`.columnar`), the OTLP door (:mod:`.otlp`, with
its wire (:mod:`.otlp_wire`), points (:mod:`.otlp_points`) and cumulative streams
(:mod:`.otlp_streams`); the semantic conventions it reads are ``agent.signals.otel_names``) and
applying a validated batch to the state (:mod:`.apply`). A new wire format is one more door
module here that returns the same ``payload.Batch``; everything after the door is shared. May
import ``state``, ``detectors``, the spec, the signal records and the SDK's declared wire format;
never ``judge``, ``collectors``, the lifecycle or ``http`` (the routes call the doors, not the
reverse). Public: every module.
"""
