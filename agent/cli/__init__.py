"""The ``slo-agent`` command line. Subcommands import their heavy parts only when they run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from agent import __version__
from agent.cli.common import CONTEXT, EXIT_SPEC, dataset_files
from agent.cli.common import checked as _checked
from agent.cli.common import load as _load
from agent.cli.common import need as _need
from agent.cli.interop_cmds import export, import_
from agent.cli.report_cmd import report
from agent.console import Output
from agent.demo import incidents as _incidents


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="slo-agent")
@click.option("--no-color", is_flag=True, envvar="NO_COLOR", help="Plain output without colour.")
@click.pass_context
def main(ctx: click.Context, no_color: bool) -> None:
    """AI observability and SLO monitoring agent.

    Evaluate an slo.yaml spec, run the sidecar next to an inference service, and generate the
    Grafana dashboards and Prometheus/Grafana alert rules that watch the same objectives.
    """
    ctx.obj = Output(no_color=no_color)


@main.command(context_settings=CONTEXT)
@click.argument("spec", type=click.Path(dir_okay=False), default="slo.yaml")
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False),
              help="The SLO spec (same as SPEC).")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved objectives as JSON.")
@click.pass_obj
def validate(out: Output, spec: str, config: str | None, as_json: bool) -> None:
    """Validate SPEC and print each objective with its resolved thresholds.

    Exits 2 and lists every error with its field path when the spec is invalid.
    """
    from agent.cli.tables import objective_rows

    spec = config or spec
    parsed = _checked(out, spec)
    files = dataset_files(out, parsed, spec)
    rows = objective_rows(parsed)
    if as_json:
        import json

        click.echo(json.dumps({"service": parsed.service, "objectives": rows,
                               "dataset_files": files}, indent=2))
        return
    out.table(
        f"{parsed.service} ({parsed.environment}): {len(rows)} objectives",
        ["objective", "signal", "selector", "direction", "warning", "critical", "for", "target"],
        [[r["name"], r["signal"], r["selector"], r["direction"], r["warning"], r["critical"],
          r["for"], r["target"]] for r in rows],
    )
    if not _sql_datasets_readable(out, parsed, Path(spec).resolve().parent):
        sys.exit(EXIT_SPEC)
    for name, path in files.items():
        out.info(f"dataset file {name}: {path}")
    out.ok(f"{spec} is valid")


def _sql_datasets_readable(out: Output, parsed: Any, base: Path) -> bool:
    """Each SQL dataset read once where its database is reachable: a missing table or column,
    a permission or a query of the wrong shape fails ``validate``; no URL in the environment or
    no connection is said and passes (the database may only be reachable where it runs)."""
    datasets = [d for d in parsed.sources.datasets if d.sql is not None]
    if not datasets:
        return True
    from agent.extras import hint, missing

    if missing("sidecar"):
        out.warn(hint("sidecar", "reading the SQL datasets") + "; they were not checked")
        return True
    from agent.sidecar.collectors.sql_datasets import probe

    good = True
    for d in datasets:
        verdict, message = probe(d, base, parsed.drift)
        if verdict == "ok":
            out.info(f"dataset {d.name}: {message}")
        elif verdict == "unreachable":
            out.warn(f"dataset {d.name}: not checked: {message}")
        else:
            out.error(f"sources.datasets[{d.name}].sql: {message}")
            good = False
    return good


@main.command(context_settings=CONTEXT)
@click.argument("spec", type=click.Path(dir_okay=False), default="slo.yaml")
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False),
              help="The SLO spec (same as SPEC).")
@click.option("--json", "as_json", is_flag=True, help="Print the tiers as JSON.")
@click.pass_obj
def tiers(out: Output, spec: str, config: str | None, as_json: bool) -> None:
    """Show each objective's burn-rate tiers: windows, the burn threshold (factor) above which
    a tier fires, the error ratio that is, and how long a budget lasts at that threshold burn.

    Windows scale with the objective's window, so the factors stay the SRE Workbook's
    14.4 / 6 / 3 / 1 whatever the window; override them per objective with `tiers:`.
    """
    from agent.cli.tables import tier_rows
    from agent.units import format_percent, format_span

    parsed = _load(out, config or spec)
    rows = tier_rows(parsed)
    if as_json:
        import json

        click.echo(json.dumps({"service": parsed.service, "tiers": rows}, indent=2))
        return
    out.table(
        f"{parsed.service}: burn-rate tiers of {len({r['objective'] for r in rows})} objectives",
        ["objective", "target", "tier", "severity", "budget", "long", "short",
         "fires above (burn)", "at error ratio", "budget lasts at that burn"],
        [[r["objective"], r["target"], r["name"], r["severity"],
          format_percent(r["budget_share"]), r["long_window"], r["short_window"],
          f"{r['factor']:g}x", format_percent(r["error_ratio"]), format_span(r["seconds"])]
         for r in rows],
    )


@main.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path(dir_okay=False), default="slo.yaml")
@click.option("--service", default="my-inference-service", show_default=True,
              help="Service name to write into the spec.")
@click.option("--model", default="my-model", show_default=True, help="Model name to declare.")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.pass_obj
def init(out: Output, path: str, service: str, model: str, force: bool) -> None:
    """Write a commented starter spec to PATH (default: slo.yaml)."""
    from agent.spec import SpecError, load_text
    from agent.spec.starter import starter_spec

    target = Path(path)
    if target.exists() and not force:
        out.error(f"{path} exists; pass --force to overwrite it")
        sys.exit(1)
    text = starter_spec(service=service, model=model)
    try:
        load_text(text, path)
    except SpecError as exc:  # the names given on the command line may be invalid
        out.spec_errors(exc)
        sys.exit(EXIT_SPEC)
    target.write_text(text, encoding="utf-8")
    out.ok(f"wrote {path}; next: slo-agent validate {path}")


@main.command(context_settings=CONTEXT)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of the spec, for editors and CI validation."""
    from agent.spec.loader import json_schema_text

    text = json_schema_text()
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)



@main.command(context_settings=CONTEXT)
@click.option("-c", "--config", "spec_path", type=click.Path(dir_okay=False), default="slo.yaml",
              show_default=True, help="The SLO spec.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="out",
              show_default=True,
              help="Output folder (Prometheus rules and tests, Grafana, Alertmanager).")
@click.option("--alerts", "backend", type=click.Choice(["prometheus", "grafana", "both"]),
              default="prometheus", show_default=True,
              help="Who evaluates the alert rules. 'both' writes Prometheus and Grafana-managed "
                   "rules for the same objectives: load only one, or alerts page twice.")
@click.option("--format", "fmt", type=click.Choice(["files", "kubernetes", "all"]),
              default="files", show_default=True,
              help="Plain files, Kubernetes objects (PrometheusRule, PodMonitor, dashboard "
                   "ConfigMaps, AlertmanagerConfig) under kubernetes/SERVICE/, or both.")
@click.option("--namespace", help="metadata.namespace of the Kubernetes objects.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Label for every Kubernetes object (e.g. release=kube-prometheus-stack, "
                   "for the operator's ruleSelector); repeatable.")
@click.pass_obj
def generate(out: Output, spec_path: str, out_dir: str, backend: str, fmt: str,
             namespace: str | None, labels: tuple[str, ...]) -> None:
    """Generate dashboards, alert rules, promtool rule tests and provisioning from the spec.

    Same spec, same bytes: the output is safe to commit and review as a diff.
    """
    _need(out, "generate", "slo-agent generate")
    from agent.k8s.names import LABEL_VALUE
    from agent.k8s.objects import render_kubernetes
    from agent.render.files import Backend, next_steps, render_split, untested, write
    from alerts.rules import lint

    parsed = _checked(out, spec_path)
    alerts: Backend = "both" if backend == "both" else (
        "grafana" if backend == "grafana" else "prometheus")
    extra: dict[str, str] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key or not LABEL_VALUE.match(value) or len(value) > 63:
            out.error(f"--label {item!r}: expected KEY=VALUE with a valid label value "
                      "(63 characters: letters, digits, '-', '_', '.')")
            sys.exit(EXIT_SPEC)
        extra[key] = value
    try:
        files = render_split(parsed, alerts)
        chosen: dict[str, tuple[str, str]] = {} if fmt == "kubernetes" else dict(files)
        if fmt in ("kubernetes", "all"):
            chosen.update(render_kubernetes(parsed, files, namespace, extra))
        written = write(parsed, Path(out_dir), chosen)
    except ValueError as exc:
        out.error(str(exc))
        sys.exit(EXIT_SPEC)
    out.table(f"wrote {len(written)} files to {out_dir}", ["kind", "path"],
              [[w.kind, str(w.path)] for w in written])
    for warning in lint(parsed) + (untested(parsed) if alerts != "grafana" else []):
        out.warn(warning)
    out.info("next steps:")
    tests = any(w.kind == "promtool rule tests" for w in written)
    steps = next_steps(parsed, Path(out_dir), alerts, tests) if fmt != "kubernetes" else []
    if fmt in ("kubernetes", "all"):
        steps.append(f"Kubernetes: kubectl apply -k {Path(out_dir) / 'kubernetes' / parsed.service}"
                     " (the Prometheus Operator picks up PrometheusRule/PodMonitor by its "
                     "selectors: add them with --label; Grafana's sidecar loads the "
                     "grafana_dashboard ConfigMaps). The PodMonitor scrapes every pod named "
                     "for the service: replicas and the checker (deploy/kubernetes/checker.yaml)")
    for step in steps:
        out.info(f"  {step}")


@main.command("job-event", context_settings=CONTEXT)
@click.argument("job")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="EVENT | -- COMMAND...")
@click.option("-c", "--config", "spec_path", type=click.Path(dir_okay=False),
              help="The SLO spec: its service name and sidecar address.")
@click.option("--url", help="Sidecar URL (default: $SLO_AGENT_URL, else the spec's listen "
              "address, else http://127.0.0.1:9464).")
@click.option("--service", envvar="SLO_AGENT_SERVICE", help="Service name (default: the spec's).")
@click.option("--token", envvar="SLO_AGENT_TOKEN", help="Ingest token ($SLO_AGENT_TOKEN).")
@click.option("--run-id", default="", help="Pairs a start with its success/failure.")
@click.option("--duration", help="Run duration for success/failure (e.g. 42m).")
@click.option("--at", "at", type=float, help="When it happened (unix seconds; default now).")
@click.option("--error", help="Failure reason (e.g. the exception type).")
@click.option("--spool", type=click.Path(dir_okay=False), help="Where events the sidecar could "
              "not be told are kept for the next job-event (default: $SLO_AGENT_SPOOL, else "
              "~/.local/state/slo-agent/job-events.jsonl).")
@click.pass_obj
def job_event(out: Output, job: str, args: tuple[str, ...],
              spec_path: str | None, url: str | None, service: str | None, token: str | None,
              run_id: str, duration: str | None, at: float | None, error: str | None,
              spool: str | None) -> None:
    """Report a run of batch job JOB (retraining, scoring, backfill) to the sidecar.

    \b
    slo-agent job-event retrain-fraud success --duration 42m
    slo-agent job-event retrain-fraud -- python train.py   # runs it; exit status = result

    The sidecar exports the job's runs, last success and last duration for the
    job objectives (success ratio, duration, time since success). A wrapped
    command always runs; events the sidecar cannot be told are kept in --spool.
    """
    from agent.cli.jobs import Spool, default_spool, default_url, event_item, report, run_wrapped
    from agent.units import QuantityError, parse_duration

    parsed = _load(out, spec_path) if spec_path else None
    svc = service or (parsed.service if parsed else None)
    if not svc:
        out.error("give --service (or -c SPEC, or set SLO_AGENT_SERVICE)")
        sys.exit(EXIT_SPEC)
    target = url or default_url(parsed.sidecar.listen if parsed else None)
    events = ("start", "success", "failure")
    event = args[0] if len(args) == 1 and args[0] in events else None
    kept = Spool(Path(spool) if spool else default_spool(),
                 lambda m: click.echo(f"slo-agent job-event: {m}", err=True))
    if event is None:
        if not args:
            out.error("give EVENT (start, success or failure) or a command after --")
            sys.exit(EXIT_SPEC)
        sys.exit(run_wrapped(target, svc, job, list(args), token, kept))
    try:
        seconds = parse_duration(duration) if duration else None
    except QuantityError as exc:
        out.error(f"--duration: {exc}")
        sys.exit(EXIT_SPEC)
    if not report(kept, target, svc, [event_item(job, event, run_id, at, seconds, error)], token):
        sys.exit(1)
    out.ok(f"{job}: {event} reported to {target}")


@main.command(context_settings=CONTEXT)
@click.option("-c", "--config", "spec_path", type=click.Path(dir_okay=False), default="slo.yaml",
              show_default=True, help="The SLO spec.")
@click.option("--listen", help="Override sidecar.listen (HOST:PORT).")
@click.option("--state-dir", type=click.Path(file_okay=False),
              help="Override sidecar.state_dir.")
@click.option("--interval", help="Override sidecar.interval (e.g. 5s).")
@click.option("--role", envvar="SLO_AGENT_ROLE", metavar="all|replica|checker",
              help="Override sidecar.role ($SLO_AGENT_ROLE). all: everything (one replica); "
                   "replica: this replica's SDK traffic only, no dataset files, job events "
                   "refused with 409; checker: the one sidecar of the service that polls "
                   "dataset files and takes job events.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.pass_obj
def run(out: Output, spec_path: str, listen: str | None, state_dir: str | None,
        interval: str | None, role: str | None, log_level: str) -> None:
    """Run the sidecar next to an inference service.

    Serves /metrics, /status, /healthz, /readyz and POST /v1/ingest on the spec's listen address
    (127.0.0.1:9464 by default) until SIGTERM; state survives restarts in the state directory.
    In a fleet, run each replica's sidecar with --role replica and one more with --role checker.
    """
    _need(out, "sidecar", "slo-agent run")
    from agent.cli.logs import setup_logging
    from agent.sidecar.engine import Engine
    from agent.sidecar.http.server import InsecureBind
    from agent.sidecar.http.server import run as serve
    from agent.sidecar.state.roles import ROLES
    from agent.spec import SpecError, parse_spec

    if role is not None and role not in ROLES:
        out.error(f"--role / SLO_AGENT_ROLE: {role!r} is not a role; allowed: "
                  f"{', '.join(ROLES)}")
        sys.exit(EXIT_SPEC)
    parsed = _load(out, spec_path)
    overrides: dict[str, object] = {}
    if role:
        overrides["role"] = role
    if listen:
        overrides["listen"] = listen
    if state_dir:
        overrides["state_dir"] = state_dir
    if interval:
        overrides["interval"] = interval
    if overrides:
        data = parsed.model_dump(mode="json", by_alias=True)
        data["sidecar"].update(overrides)
        try:
            parsed = parse_spec(data, spec_path)
        except SpecError as exc:
            out.spec_errors(exc)
            sys.exit(EXIT_SPEC)
    setup_logging(log_level)
    try:
        engine = Engine(parsed, base_dir=Path(spec_path).resolve().parent)
        out.info(f"slo-agent sidecar ({parsed.sidecar.role}) for {parsed.service} on "
                 f"http://{parsed.sidecar.listen} (/metrics, /status, /v1/ingest)")
        serve(parsed, engine, log_level="warning")
    except InsecureBind as exc:
        out.error(str(exc))
        sys.exit(EXIT_SPEC)


@main.command(context_settings=CONTEXT, help=(
    "Run the whole product on loopback, no external servers needed.\n\n"
    "Starts the sidecar and an instrumented inference service (a scikit-learn model trained at "
    f"start), drives traffic, injects {_incidents.count_words()} one after another "
    f"({_incidents.names()}), shows every objective live, writes the generated dashboards and "
    "alert rules, and ends with detection delays."))
@click.option("--duration", type=click.FloatRange(min=60), default=150, show_default=True,
              help=f"Seconds of traffic (warm-up, then {_incidents.count_words()} one after "
                   "another).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data and traffic.")
@click.option("--no-tty", is_flag=True, help="Plain lines instead of the live view (CI, logs).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="out",
              show_default=True, help="Where the generated dashboards and rules go.")
@click.option("--sidecar-port", type=int, default=9464, show_default=True)
@click.option("--service-port", type=int, default=8000, show_default=True)
@click.pass_obj
def demo(out: Output, duration: float, seed: int, no_tty: bool, out_dir: str, sidecar_port: int,
         service_port: int) -> None:
    _need(out, "demo", "slo-agent demo")
    from agent.demo.runner import Demo

    tty = out.tty and not no_tty
    runner = Demo(duration=duration, seed=seed, tty=tty, out_dir=Path(out_dir),
                  sidecar_port=sidecar_port, service_port=service_port)
    sys.exit(runner.run(out))


main.add_command(import_)
main.add_command(export)
main.add_command(report)
