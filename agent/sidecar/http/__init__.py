"""The HTTP side: the ASGI app and everything a request touches.

Owns the app and its routes (:mod:`.server`; ``_routes_*`` for reads, ingest, OTLP and auth;
``_otlp_grpc``, the OTLP/gRPC listener ``run`` starts beside the app), browser
sessions and the login limit (``_sessions``) and the status page (``_page`` with its
``templates/`` and ``static/``). The outermost room: it may import the lifecycle
(:mod:`~agent.sidecar.engine`, :mod:`~agent.sidecar.view`, :mod:`~agent.sidecar.exposition`)
and every other room's public modules; nothing in the sidecar imports it (the CLI does).
Public: :mod:`.server` only.
"""
