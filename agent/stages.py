"""Named generation stages and the error that carries them (after Sloth's "could not generate
SLO x: stage: cause"): whatever fails while turning a spec into files says which objective and
which stage, so a reviewer knows where to look without a traceback. A leaf: the generators in
alerts/ and dashboards/ may raise it, the CLI's pipeline wraps each stage in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Stage = Literal["validate", "rules", "unit tests", "dashboards", "grafana rules", "write"]
STAGES: tuple[Stage, ...] = ("validate", "rules", "unit tests", "dashboards", "grafana rules",
                             "write")


class GenerateError(ValueError):
    """A generation failure: ``objective`` (None: the spec as a whole), ``stage``, ``cause``.
    A ValueError, so callers that refuse a bad spec keep refusing it."""

    def __init__(self, objective: str | None, stage: Stage, cause: BaseException | str) -> None:
        self.objective = objective
        self.stage = stage
        self.cause = cause
        if isinstance(cause, BaseException) and not isinstance(cause, ValueError):
            text = f"{type(cause).__name__}: {cause}"
        else:
            text = str(cause)
        what = f"SLO {objective}" if objective is not None else "the spec"
        super().__init__(f"could not generate {what}: {stage}: {text}")


@contextmanager
def stage(name: Stage, objective: str | None = None) -> Iterator[None]:
    """Run a block as stage ``name`` of ``objective``; any failure leaves as GenerateError
    (one already naming its stage passes through unchanged)."""
    try:
        yield
    except GenerateError:
        raise
    except Exception as exc:
        raise GenerateError(objective, name, exc) from exc
