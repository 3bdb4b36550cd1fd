"""The report document as Markdown (for a ticket, a wiki, a pull request) and as one HTML page
(inline CSS, no script, no CDN; the sidecar serves it at ``/report``). Times in UTC, durations
and shares rounded to what a review meeting reads."""

from __future__ import annotations

import html
import time
from typing import Any

from agent.units import format_percent, format_span

WORDS = {"ok": "ok", "warning": "warning", "critical": "critical", "no_data": "no data",
         "pending_warning": "pending warning", "pending_critical": "pending critical",
         None: "not evaluated"}


def when(t: float | None) -> str:
    return "—" if t is None else time.strftime("%a %d %b %H:%M UTC", time.gmtime(t))


def _shares(o: dict[str, Any]) -> str:
    spans = o["time_in_state"]
    whole = sum(spans.values()) or 1.0
    parts = [f"{name.replace('_', ' ')} {format_percent(spans[name] / whole)}"
             for name in ("ok", "warning", "critical", "no_data", "unrecorded")
             if spans.get(name)]
    return ", ".join(parts) or "—"


def _title(doc: dict[str, Any]) -> str:
    return f"Weekly review: {doc['service']} ({doc['environment']})" \
        if doc["span"] == "1w" or doc["span"] == "7d" else \
        f"Review of the last {doc['span']}: {doc['service']} ({doc['environment']})"


def _headline(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    target = (f"{s['targets_met']} of {s['targets']} targets met"
              if s["targets"] else "no objective with a target")
    return f"{target} · {s['incidents']} incident{'s' if s['incidents'] != 1 else ''} · " \
           f"{s['objectives']} objectives"


def _value(o: dict[str, Any], before: str, after: str = "") -> str:
    """The value beside its status, unless there is none (the status says "no data")."""
    return "" if o.get("value") is None else f"{before}{o['value_text']}{after}"


def _changes(changes: dict[str, Any]) -> list[str]:
    return [c["text"] for c in changes["items"]] or [changes.get("note") or "nothing"]


def _sli_cell(o: dict[str, Any]) -> str:
    sli = o.get("sli")
    if not sli:
        return f"levels: {o['levels_text']}"
    if sli["good"] is None:
        return f"no events (target {format_percent(o['target'])})"
    return (f"{format_percent(sli['good'])} of {format_percent(o['target'])} "
            f"({'met' if sli['met'] else 'missed'})")


def _budget_cell(o: dict[str, Any]) -> str:
    b = o.get("budget")
    if not b:
        return "—"
    spent = "—" if b["spent"] is None else format_percent(b["spent"])
    left = "—" if b["left"] is None else format_percent(b["left"])
    return f"{spent} / {left}"


def _quality(doc: dict[str, Any]) -> list[str]:
    lines = []
    for o in doc["objectives"]:
        for e in o.get("quality_events", []):
            col = f" (column {e['column']})" if e.get("column") else ""
            lines.append(f"{when(e['t'])}: {o['name']} {WORDS.get(e['from'], e['from'])} → "
                         f"{WORDS.get(e['to'], e['to'])}{col}")
    for d in doc.get("datasets", []):
        for e in d.get("events", []):
            lines.append(f"{when(e['t'])}: dataset {d['name']}: {e['text']}")
    return sorted(lines)


def markdown(doc: dict[str, Any]) -> str:
    out = [f"# {_title(doc)}", "",
           f"{when(doc['from'])} to {when(doc['to'])} · source: {doc['source']}", "",
           f"**{_headline(doc)}**", ""]
    out += [f"> {n}" for n in doc.get("notes", [])]
    if doc.get("notes"):
        out.append("")
    changes = doc["changes"]
    out += [f"## What changed since {changes['against']}", ""]
    out += [f"- {text}" for text in _changes(changes)]
    out += ["", "## Objectives", "",
            "| objective | status now | SLI against target | budget spent / left | incidents |"
            " time ok / warning / critical |", "| --- | --- | --- | --- | --- | --- |"]
    for o in doc["objectives"]:
        out.append(f"| {o['name']} | {WORDS.get(o['status'], o['status'])}{_value(o, ' (', ')')}"
                   f" | {_sli_cell(o)} | {_budget_cell(o)} | {len(o['incidents'])} |"
                   f" {_shares(o)} |")
    for o in doc["objectives"]:
        out += ["", f"## {o['name']}", "",
                f"- {o['signal']}; now {WORDS.get(o['status'], o['status'])}"
                f"{_value(o, ' (', ')')}; {o['levels_text']}"]
        if o.get("sli"):
            out.append(f"- SLI over the period: {o['sli']['text']}")
            out.append(f"- Error budget ({o['window']}): {o['budget']['text']}")
        out.append(f"- Time in each state: {_shares(o)}")
        if not o["incidents"]:
            out.append("- No incidents.")
            continue
        out += ["", "| detected | worst | started | time to detect | cleared | time to recover |"
                " tiers |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for i in o["incidents"]:
            tiers = "; ".join(_tier_text(t) for t in i["tiers"]) or "—"
            out.append(f"| {when(i['detected'])} | {i['worst']} | {when(i['started'])} | "
                       f"{format_span(i['time_to_detect'])} | {when(i['cleared'])} | "
                       f"{format_span(i['time_to_recover'])} | {tiers} |")
    quality = _quality(doc)
    out += ["", "## Drift and data quality", ""]
    out += [f"- {line}" for line in quality] or ["- No drift or data-quality events."]
    return "\n".join(out) + "\n"


def _tier_text(t: dict[str, Any]) -> str:
    end = f"cleared {when(t['cleared'])}" if t["cleared"] is not None else "still firing"
    return f"{t['tier']} ({t['severity']}) fired {when(t['fired'])}, {end}"


CSS = """
body { margin: 0 auto; max-width: 1200px; padding: 1em 1.2em 3em; color: #1a1a1a;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: #0b4f9c; } h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { text-align: left; vertical-align: top; padding: .35em .5em;
         border-bottom: 1px solid #d0d0d0; }
thead th { font-size: .85em; color: #555; }
.muted { color: #555; } .headline { font-size: 1.1em; font-weight: 600; }
.st { display: inline-block; padding: 0 .5em; border-radius: 1em; font-size: .85em;
      font-weight: 600; white-space: nowrap; }
.st-ok { background: #dcf5e3; color: #0f5323; } .st-warning { background: #fff0c2; color: #5c4300; }
.st-critical { background: #b00020; color: #fff; } .st-no_data, .st-None { background: #ececec;
      color: #333; }
.missed { color: #b00020; font-weight: 600; } .met { color: #0f5323; font-weight: 600; }
"""


def _badge(status: str | None) -> str:
    shown = (status or "None").removeprefix("pending_")
    word = html.escape(WORDS.get(status, str(status)))
    return f'<span class="st st-{html.escape(shown)}">{word}</span>'


def page(doc: dict[str, Any], home: str | None = None, stylesheet: str | None = None) -> str:
    """One HTML page of the report; ``home`` links back (the sidecar's status page). The style
    is inline in a file (it travels alone), or ``stylesheet``'s address where a Content Security
    Policy refuses inline style (the sidecar's)."""
    e = html.escape
    rows = []
    for o in doc["objectives"]:
        sli = o.get("sli") or {}
        met = sli.get("met")
        cls = "" if met is None else (' class="met"' if met else ' class="missed"')
        name = e(o["name"])
        rows.append(f'<tr data-objective="{name}"><th scope="row"><a href="#o-{name}">'
                    f'{name}</a></th><td>{_badge(o["status"])}{e(_value(o, " "))}</td>'
                    f'<td{cls}>{e(_sli_cell(o))}</td><td>{e(_budget_cell(o))}</td>'
                    f'<td class="incidents">{len(o["incidents"])}</td>'
                    f'<td>{e(_shares(o))}</td></tr>')
    sections = []
    for o in doc["objectives"]:
        facts = [f"<li>{e(o['signal'])}; now {_badge(o['status'])}{e(_value(o, ' '))}; "
                 f"{e(o['levels_text'])}</li>"]
        if o.get("sli"):
            facts.append(f"<li>SLI over the period: {e(o['sli']['text'])}</li>")
            facts.append(f"<li>Error budget ({e(o['window'])}): {e(o['budget']['text'])}</li>")
        facts.append(f"<li>Time in each state: {e(_shares(o))}</li>")
        body = f"<ul>{''.join(facts)}</ul>"
        if o["incidents"]:
            trs = "".join(
                f"<tr><td>{e(when(i['detected']))}</td><td>{_badge(i['worst'])}</td>"
                f"<td>{e(when(i['started']))}</td><td>{e(format_span(i['time_to_detect']))}</td>"
                f"<td>{e(when(i['cleared']))}</td><td>{e(format_span(i['time_to_recover']))}</td>"
                f"<td>{e('; '.join(_tier_text(t) for t in i['tiers']) or '—')}</td></tr>"
                for i in o["incidents"])
            body += ('<table class="incidents"><thead><tr><th scope="col">Detected</th>'
                     '<th scope="col">Worst</th><th scope="col">Started</th><th scope="col">'
                     'Time to detect</th><th scope="col">Cleared</th><th scope="col">Time to '
                     f'recover</th><th scope="col">Tiers</th></tr></thead><tbody>{trs}'
                     '</tbody></table>')
        else:
            body += '<p class="muted">No incidents.</p>'
        sections.append(f'<section aria-labelledby="o-{e(o["name"])}"><h3 id="o-{e(o["name"])}">'
                        f'{e(o["name"])}</h3>{body}</section>')
    changes = doc["changes"]
    change_items = "".join(f"<li>{e(text)}</li>" for text in _changes(changes))
    quality = "".join(f"<li>{e(line)}</li>" for line in _quality(doc)) or \
        "<li>No drift or data-quality events.</li>"
    notes = "".join(f'<p class="muted">{e(n)}</p>' for n in doc.get("notes", []))
    back = f'<p><a href="{e(home)}">← Status page</a></p>' if home else ""
    style = f'<link rel="stylesheet" href="{e(stylesheet)}">' if stylesheet else \
        f"<style>{CSS}</style>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{e(_title(doc))}</title>{style}</head>
<body><main>{back}
<h1>{e(_title(doc))}</h1>
<p class="muted">{e(when(doc['from']))} to {e(when(doc['to']))} · source: {e(doc['source'])}</p>
<p class="headline" id="headline">{e(_headline(doc))}</p>{notes}
<h2 id="changes">What changed since {e(changes['against'])}</h2><ul>{change_items}</ul>
<h2 id="objectives">Objectives</h2>
<table class="summary"><thead><tr><th scope="col">Objective</th><th scope="col">Status now</th>
<th scope="col">SLI against target</th><th scope="col">Budget spent / left</th>
<th scope="col">Incidents</th><th scope="col">Time ok / warning / critical</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2 id="details">Per objective</h2>{''.join(sections)}
<h2 id="quality">Drift and data quality</h2><ul>{quality}</ul>
</main></body></html>
"""
