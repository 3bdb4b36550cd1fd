"""The sidecar: ingest, collectors, SLO evaluation, HTTP API and durable state."""
