import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from hypothesis import settings

# A property test asserts what holds, never how fast: hypothesis' default 200 ms deadline is a
# timed assertion that fails on a loaded 2-core CI machine, so no test runs under one.
settings.register_profile("slo-agent", deadline=None)
settings.load_profile("slo-agent")

# The Go tools the tests start (promtool's unit tests above all, Prometheus, Alertmanager)
# collect garbage at a quarter of Go's default rate: promtool's rule tests spend ~18 % less CPU
# (measured on the every-kind spec's files) for twice a small heap (~130 MB); the suite runs on
# two cores and promtool's unit tests are its largest share.
os.environ.setdefault("GOGC", "400")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files holding a test marked ``slow`` run first, each file's tests kept together and in
    order. CI runs ``-n 2 --dist loadfile --no-loadscope-reorder``: a file is one unit, handed
    out in this order, and a worker is committed to its next unit before it is free, so one
    long file among the last leaves the other worker idle meanwhile. (xdist's own reordering,
    by number of tests, put the long one-test files (the demo, the soak, crash recovery) last.)"""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
