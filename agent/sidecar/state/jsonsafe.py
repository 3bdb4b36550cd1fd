"""JSON without NaN or infinity: what /status, snapshots and webhooks send through.

Sources are meant never to produce a non-finite float; this is the last line that keeps one from
turning a whole document (or every snapshot after it) into an error. A replaced value becomes
``null`` and its path is returned so the caller can log the defect once.
"""

from __future__ import annotations

import math
from typing import Any


def finite(obj: Any, path: str = "$") -> tuple[Any, list[str]]:
    """A copy of ``obj`` with every NaN/inf float replaced by None, and the paths replaced."""
    bad: list[str] = []

    def walk(x: Any, at: str) -> Any:
        if isinstance(x, float):
            if math.isfinite(x):
                return x
            bad.append(at)
            return None
        if isinstance(x, dict):
            return {k: walk(v, f"{at}.{k}") for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{at}[{i}]") for i, v in enumerate(x)]
        if hasattr(x, "item") and hasattr(x, "dtype"):   # numpy scalar
            return walk(x.item(), at)
        return x

    return walk(obj, path), bad


_reported: set[str] = set()


def dumps(obj: Any, what: str, **kw: Any) -> bytes:
    """``json.dumps`` that never fails on NaN: the fast path as is, and on a non-finite float a
    cleaned copy, logged once per document kind with the paths that held one."""
    import json
    import logging

    kw.setdefault("separators", (",", ":"))
    try:
        return json.dumps(obj, allow_nan=False, **kw).encode()
    except ValueError:
        clean, bad = finite(obj)
        if what not in _reported:
            _reported.add(what)
            logging.getLogger("slo_agent.sidecar").error(
                "%s held non-finite numbers at %s; written as null (a defect: please report)",
                what, ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
        return json.dumps(clean, allow_nan=False, **kw).encode()
