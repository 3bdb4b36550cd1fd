"""The demo: a real small model behind an instrumented HTTP service, a sidecar, traffic and
incidents, with a live view of every objective."""
