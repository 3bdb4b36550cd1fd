"""Which optional extra brings which modules, and the one line that names the extra to install.

The base package is what an inference process imports (SDK and spec); the sidecar, the generator,
Great Expectations contracts, OTLP export and the demo come as extras (see pyproject.toml). A part
that needs an extra asks here first, so a missing one reads as one line, never a traceback.
"""

from __future__ import annotations

from importlib.util import find_spec

#: extra -> top-level modules it installs that the code imports (checked, not imported)
MODULES: dict[str, tuple[str, ...]] = {
    "otlp": ("opentelemetry.exporter.otlp",),
    "sidecar": ("numpy", "scipy", "pandas", "pyarrow", "uvicorn", "starlette", "jinja2",
                "opentelemetry.proto", "grpc", "google.rpc", "duckdb", "sqlalchemy"),
    "generate": ("grafana_foundation_sdk",),
    "gx": ("great_expectations",),
    "demo": ("sklearn", "numpy", "scipy", "pandas", "uvicorn", "starlette", "jinja2",
             "grafana_foundation_sdk", "great_expectations"),
}


def _present(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):   # a parent package is missing
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when it is installed)."""
    return [m for m in MODULES[extra] if not _present(m)]


def hint(extra: str, what: str) -> str:
    """``"<what> needs the <extra> extra: pip install 'slo-agent[<extra>]'"``."""
    return f"{what} needs the {extra} extra: pip install 'slo-agent[{extra}]'"
