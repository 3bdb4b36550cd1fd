"""``slo-agent import`` (OpenSLO, Sloth, Pyrra → slo.yaml) and ``slo-agent export`` (slo.yaml →
OpenSLO, Pyrra): foreign formats in and out, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.cli.common import CONTEXT, EXIT_SPEC, load
from agent.console import Output


@click.group("import", context_settings=CONTEXT)
def import_() -> None:
    """Turn an OpenSLO, Sloth or Pyrra spec into an slo.yaml (printed, or written with -o)."""


def _import(out: Output, kind: str, paths: tuple[str, ...], output: str | None,
            service: str | None = None) -> None:
    import yaml

    from agent.interop import openslo, pyrra, sloth
    from agent.interop.common import load_documents
    from agent.spec import SpecError, parse_spec

    named = []
    for one in paths:
        try:
            docs = load_documents(Path(one).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            out.error(f"{one}: {exc}")
            sys.exit(EXIT_SPEC)
        named += [(f"{Path(one).name} {at}" if len(paths) > 1 else at, d) for at, d in docs]
    path = ", ".join(paths)
    result = openslo.import_docs(named) if kind == "openslo" else \
        pyrra.import_docs(named, service) if kind == "pyrra" else \
        sloth.import_docs(named, service)
    if result.problems:
        out.error(f"{path}: {len(result.problems)} field(s) cannot be imported")
        for p in result.problems:
            out.error(f"  - {p}")
        sys.exit(EXIT_SPEC)
    data = result.data
    try:
        parsed = parse_spec(data, path)
    except SpecError as exc:          # what the source allowed but a spec cannot hold
        out.spec_errors(exc)
        sys.exit(EXIT_SPEC)
    notes = result.notes + [f"{o.name}: {n}" for o in parsed.objectives
                            for n in parsed.tier_notes(o)]
    for note in notes:
        out.warn(note)
    text = (f"# imported from {kind} ({', '.join(Path(p).name for p in paths)}) by slo-agent "
            "import\n"
            + "".join(f"# note: {n}\n" for n in notes)
            + yaml.safe_dump(data, sort_keys=False, width=100))
    if output:
        Path(output).write_text(text, encoding="utf-8")
        out.ok(f"wrote {output}: {len(data['objectives'])} objectives "
               f"(slo-agent validate {output})")
    else:
        click.echo(text, nl=False)


@import_.command("openslo", context_settings=CONTEXT)
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the spec here.")
@click.pass_obj
def import_openslo(out: Output, path: str, output: str | None) -> None:
    """OpenSLO v1 documents (SLO, SLI, AlertPolicy, AlertCondition, DataSource, Service; as
    YAML documents or a list) → slo.yaml.

    Prometheus metric sources only; a field with no equivalent exits 2 naming it.
    """
    _import(out, "openslo", (path,), output)


@import_.command("sloth", context_settings=CONTEXT)
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the spec here.")
@click.option("--service", help="The service to import when the file holds several.")
@click.pass_obj
def import_sloth(out: Output, path: str, output: str | None, service: str | None) -> None:
    """Sloth specs (prometheus/v1 or sloth.slok.dev/v1 PrometheusServiceLevel, one document or
    many) → slo.yaml: events and raw SLIs, alert names, labels and annotations; plugins exit 2."""
    _import(out, "sloth", (path,), output, service)


@import_.command("pyrra", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the spec here.")
@click.option("--service", help="The spec's service (default: the documents' namespace).")
@click.pass_obj
def import_pyrra(out: Output, paths: tuple[str, ...], output: str | None,
                 service: str | None) -> None:
    """Pyrra ServiceLevelObjectives (pyrra.dev/v1alpha1; documents, YAML lists or Kubernetes
    lists, from one file or many) → slo.yaml: ratio, latency, latencyNative and bool_gauge
    indicators, grouping, Pyrra's burn windows, alert names and labels; what cannot map exits 2.
    """
    _import(out, "pyrra", paths, output, service)


@click.group("export", context_settings=CONTEXT)
def export() -> None:
    """Write the spec in another format."""


@export.command("openslo", context_settings=CONTEXT)
@click.option("-c", "--config", "spec_path", type=click.Path(dir_okay=False), default="slo.yaml",
              show_default=True, help="The SLO spec.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@click.pass_obj
def export_openslo(out: Output, spec_path: str, output: str | None) -> None:
    """The spec's objectives with a target as OpenSLO v1 (Service, SLI, SLO, AlertPolicy)."""
    import yaml

    from agent.interop import openslo_export
    from alerts import alertmanager

    parsed = load(out, spec_path)
    docs, skipped = openslo_export.export(parsed, alertmanager.config(parsed))
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
    for name, why in skipped.items():
        out.warn(f"{name}: not exported: {why}")
    if output:
        Path(output).write_text(text, encoding="utf-8")
        out.ok(f"wrote {output}: {sum(d['kind'] == 'SLO' for d in docs)} SLOs")
    else:
        click.echo(text, nl=False)


@export.command("pyrra", context_settings=CONTEXT)
@click.option("-c", "--config", "spec_path", type=click.Path(dir_okay=False), default="slo.yaml",
              show_default=True, help="The SLO spec.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@click.option("--namespace", help="metadata.namespace of the ServiceLevelObjectives.")
@click.pass_obj
def export_pyrra(out: Output, spec_path: str, output: str | None, namespace: str | None) -> None:
    """The spec's objectives that Pyrra can hold (ratios of events with a target) as Pyrra
    ServiceLevelObjectives; the others are named with the reason."""
    import yaml

    from agent.interop import pyrra_export

    parsed = load(out, spec_path)
    docs, skipped, notes = pyrra_export.export(parsed, namespace)
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
    for name, why in skipped.items():
        out.warn(f"{name}: not exported: {why}")
    for note in notes:
        out.warn(note)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        out.ok(f"wrote {output}: {len(docs)} ServiceLevelObjectives")
    else:
        click.echo(text, nl=False)
