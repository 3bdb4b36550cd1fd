"""The weekly review (``slo-agent report``, the sidecar's ``/report``): per objective, the SLI
against its target, the error budget spent and left, the incidents (when each level and tier
fired and cleared, time to detect, time to recover), drift and data-quality events, and what
changed since the last report.

A source turns what it holds into the same events and figures (:mod:`.episodes` folds events
into incidents): the sidecar from its journal and budget slots, :mod:`.prometheus` from the
series the sidecar exported. :mod:`.document` assembles the report document (JSON, the one
contract between sources and renderers) and what changed; :mod:`.render` writes Markdown and
HTML. Reads the spec, the plans, the units and the catalogue; never the sidecar, the SDK or a
composer, so the sidecar's ``/report`` and the CLI render the same document the same way.
"""
