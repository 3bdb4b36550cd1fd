"""``slo-agent import`` (OpenSLO, Sloth → slo.yaml) and ``slo-agent export`` (slo.yaml →
OpenSLO): foreign formats in and out, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.cli.common import CONTEXT, EXIT_SPEC, load
from agent.cli.output import Output


@click.group("import", context_settings=CONTEXT)
def import_() -> None:
    """Turn an OpenSLO or Sloth spec into an slo.yaml (printed, or written with -o)."""


def _import(out: Output, kind: str, path: str, output: str | None,
            service: str | None = None) -> None:
    import yaml

    from agent.interop import openslo, sloth
    from agent.interop.common import load_documents
    from agent.spec import SpecError, parse_spec

    try:
        named = load_documents(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        out.error(f"{path}: {exc}")
        sys.exit(EXIT_SPEC)
    result = openslo.import_docs(named) if kind == "openslo" else \
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
    text = (f"# imported from {kind} ({Path(path).name}) by slo-agent import\n"
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
    _import(out, "openslo", path, output)


@import_.command("sloth", context_settings=CONTEXT)
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the spec here.")
@click.option("--service", help="The service to import when the file holds several.")
@click.pass_obj
def import_sloth(out: Output, path: str, output: str | None, service: str | None) -> None:
    """Sloth specs (prometheus/v1 or sloth.slok.dev/v1 PrometheusServiceLevel, one document or
    many) → slo.yaml: events and raw SLIs, alert names, labels and annotations; plugins exit 2."""
    _import(out, "sloth", path, output, service)


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

    parsed = load(out, spec_path)
    docs, skipped = openslo_export.export(parsed)
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
    for name, why in skipped.items():
        out.warn(f"{name}: not exported: {why}")
    if output:
        Path(output).write_text(text, encoding="utf-8")
        out.ok(f"wrote {output}: {sum(d['kind'] == 'SLO' for d in docs)} SLOs")
    else:
        click.echo(text, nl=False)
