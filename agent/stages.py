"""Named generation stages and the error that carries them (after Sloth's "could not generate
SLO x: stage: cause"): whatever fails while turning a spec into files says which objective and
which stage, so a reviewer knows where to look without a traceback. A leaf: the generators in
alerts/ and dashboards/ may raise it, the CLI's pipeline wraps each stage in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Stage = Literal["validate", "rules", "unit tests", "dashboards", "grafana rules", "kubernetes",
                "write"]
STAGES: tuple[Stage, ...] = ("validate", "rules", "unit tests", "dashboards", "grafana rules",
                             "kubernetes", "write")


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

    def __reduce__(self) -> tuple[object, ...]:
        """Pickles (a render in another process sends its failure back): rebuilt from
        objective, stage and cause, so the message is the same on both sides."""
        return (_rebuild, (self.objective, self.stage, self.cause, str(self)))

    @classmethod
    def with_text(cls, err: GenerateError) -> GenerateError:
        """The same error with its cause replaced by the cause's text (for a cause that does
        not pickle); the message stays word for word."""
        return _rebuild(err.objective, err.stage, _text(err.cause), str(err))


def _text(cause: BaseException | str) -> str:
    return cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"


def _rebuild(objective: str | None, stage: Stage, cause: BaseException | str,
             message: str) -> GenerateError:
    err = GenerateError(objective, stage, cause)
    err.args = (message,)
    return err


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
