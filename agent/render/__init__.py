"""Every file a spec generates, composed from the generators (``dashboards``, ``alerts``).

Owns rendering a spec into named files (rules, rule tests, Grafana alerting, Alertmanager example,
dashboards, provisioning) and writing them atomically (:mod:`.files`), each shape of objective
built once and the rest filled from its template (:mod:`.shapes`). A composer: it may import
the spec, the plans and both generator packages; the CLI and the demo call it, and no
generator, SDK or sidecar module imports it.
"""
