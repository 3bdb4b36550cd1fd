"""``slo-agent report``: the weekly review, from a running sidecar or from Prometheus, as
Markdown or HTML; beside the file, its document as JSON, which the next report compares with."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from agent.cli.common import CONTEXT, EXIT_SPEC
from agent.cli.common import load as _load
from agent.console import Output


@click.command("report", context_settings=CONTEXT)
@click.option("-c", "--config", "spec_path", type=click.Path(dir_okay=False), default="slo.yaml",
              show_default=True, help="The SLO spec.")
@click.option("--since", default="7d", show_default=True,
              help="The period: the last 7d, 24h, 30d ... (at least 1h).")
@click.option("--url", help="The sidecar to ask (default: $SLO_AGENT_URL, else the spec's "
              "listen address).")
@click.option("--prometheus", "prometheus", metavar="URL",
              help="Read the sidecar's exported series from this Prometheus instead.")
@click.option("--end", "end", type=float, help="With --prometheus: the period's end (unix "
              "seconds; default now).")
@click.option("--token", envvar="SLO_AGENT_TOKEN", help="Bearer token of the sidecar "
              "($SLO_AGENT_TOKEN).")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False),
              help="Write here (.html: a page, else Markdown); the document goes beside it "
                   "as .json. Default: Markdown on stdout.")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]),
              help="Markdown or HTML (default: from --out's suffix).")
@click.option("--previous", type=click.Path(dir_okay=False, exists=True),
              help="A report's .json to compare with (default: the .json beside --out, if "
                   "there is one; else the period before).")
@click.pass_obj
def report(out: Output, spec_path: str, since: str, url: str | None, prometheus: str | None,
           end: float | None, token: str | None, out_path: str | None, fmt: str | None,
           previous: str | None) -> None:
    """Write the SLO review of the last week (or --since): per objective the SLI against its
    target, the error budget spent and left, every incident (when each level and burn-rate
    tier fired and cleared, time to detect, time to recover), drift and data-quality events,
    and what changed since the last report.

    \b
    slo-agent report -c slo.yaml -o review.md             # from the running sidecar
    slo-agent report --prometheus http://prom:9090 -o review.html
    """
    from agent.cli.jobs import default_url
    from agent.report import document, render

    parsed = _load(out, spec_path)
    try:
        span = document.parse_since(since)
    except ValueError as exc:
        out.error(str(exc))
        sys.exit(EXIT_SPEC)
    try:
        if prometheus:
            from agent.report import prometheus as prom

            doc = prom.build(parsed, prometheus, span, end if end is not None else time.time())
        else:
            doc = _from_sidecar(url or default_url(parsed.sidecar.listen), since, token)
    except (OSError, RuntimeError, ValueError) as exc:
        out.error(str(exc))
        sys.exit(1)
    target = Path(out_path) if out_path else None
    stored = Path(previous) if previous else (target.with_suffix(".json") if target else None)
    if stored is not None and stored.exists():
        try:
            before = json.loads(stored.read_text(encoding="utf-8"))
            doc["changes"] = document.changes(
                doc, document.snapshot(before),
                f"the last report ({render.when(before.get('to'))})")
        except (ValueError, KeyError, TypeError) as exc:
            out.warn(f"{stored}: not a report document ({exc}); compared with the period "
                     "before instead")
    kind = fmt or ("html" if target is not None and target.suffix in (".html", ".htm") else "md")
    text = render.page(doc) if kind == "html" else render.markdown(doc)
    if target is None:
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str) + "\n",
                                           encoding="utf-8")
    out.ok(f"wrote {target} ({doc['summary']['incidents']} incidents, "
           f"{doc['summary']['targets_met']} of {doc['summary']['targets']} targets met) and "
           f"{target.with_suffix('.json')}")


def _from_sidecar(url: str, since: str, token: str | None) -> dict[str, Any]:
    from agent.redact import redact_url

    req = urllib.request.Request(f"{url.rstrip('/')}/report.json?since={since}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            doc: dict[str, Any] = json.loads(resp.read())
            return doc
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise RuntimeError(f"the sidecar at {redact_url(url)} answered {exc.code}: "
                           f"{detail}") from None
    except OSError as exc:
        raise RuntimeError(f"cannot reach the sidecar at {redact_url(url)} ({exc}); is "
                           "`slo-agent run` up? Or give --prometheus URL") from None
