from tests.sidecar.conftest import sidecar_factory  # noqa: F401 - the shared fixture
