from collections.abc import Iterator

import pytest

from tests.helpers import missing_part
from tests.sidecar.conftest import sidecar_factory  # noqa: F401 - the shared fixture


@pytest.fixture
def streams_built() -> None:
    """The compiled part (``agent/sdk/_streams.c``) is there: a local run without it skips, a
    CI run fails."""
    from agent.sdk import wrappers
    if wrappers._streams is None:
        missing_part("the compiled part agent/sdk/_streams.c was not built (pip install -e . "
                     "needs a C compiler and Python's headers)")


@pytest.fixture(params=["C", "Python"])
def stepping(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Async generators decorated while this is in use are stepped in C (the compiled part)
    or by the pure-Python wrapper (where it could not be built)."""
    from agent.sdk import wrappers
    if request.param == "Python":
        monkeypatch.setattr(wrappers, "_streams", None)
    else:
        request.getfixturevalue("streams_built")
    yield request.param
