"""A stand-in for ``pynvml`` (nvidia-ml-py) for a real ``slo-agent run`` subprocess on a machine
without a GPU: put this folder first on the subprocess's ``PYTHONPATH`` and the sidecar's own
``import pynvml`` finds it. One GPU whose readings come from the JSON file named by
``SLO_AGENT_TEST_FAKE_NVML`` (``utilization`` and ``memory_used`` as 0-1 shares,
``temperature`` in celsius), read at every call, so a test changes them by rewriting the file.
No product code knows of this module; only the tests' environment points at it.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_ERROR_NOT_SUPPORTED = 3
TOTAL = 80 * 2**30


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


def _now() -> dict[str, float]:
    with open(os.environ["SLO_AGENT_TEST_FAKE_NVML"], encoding="utf-8") as fh:
        return {k: float(v) for k, v in json.load(fh).items()}


def nvmlInit() -> None:
    _now()          # a missing state file fails like a missing driver


def nvmlShutdown() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return 1


def nvmlDeviceGetHandleByIndex(i: int) -> int:
    return i


def nvmlDeviceGetUUID(h: int) -> str:
    return f"GPU-fake-{h}"


def nvmlDeviceGetName(h: int) -> bytes:
    return b"Fake H100"


def nvmlDeviceGetUtilizationRates(h: int) -> Any:
    return SimpleNamespace(gpu=round(_now()["utilization"] * 100), memory=10)


def nvmlDeviceGetMemoryInfo(h: int) -> Any:
    used = int(_now()["memory_used"] * TOTAL)
    return SimpleNamespace(total=TOTAL, used=used, free=TOTAL - used)


def nvmlDeviceGetTemperature(h: int, sensor: int) -> int:
    return round(_now()["temperature"])


def nvmlDeviceGetPowerUsage(h: int) -> int:
    return 300_000


def nvmlDeviceGetEnforcedPowerLimit(h: int) -> int:
    return 700_000


def nvmlDeviceGetClockInfo(h: int, kind: int) -> int:
    return 1980


def nvmlDeviceGetCurrentClocksThrottleReasons(h: int) -> int:
    return 0


def nvmlDeviceGetTotalEccErrors(h: int, kind: int, counter: int) -> int:
    raise NVMLError(NVML_ERROR_NOT_SUPPORTED)


def nvmlDeviceGetComputeRunningProcesses(h: int) -> list[Any]:
    return []
