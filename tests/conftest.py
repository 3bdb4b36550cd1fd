import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import settings

# A property test asserts what holds, never how fast: hypothesis' default 200 ms deadline is a
# timed assertion that fails on a loaded 2-core CI machine, so no test runs under one.
settings.register_profile("slo-agent", deadline=None)
settings.load_profile("slo-agent")
