"""GPU readings through NVML (nvidia-ml-py), with the NVML module injected at this seam.

NVML is initialised once and device handles are cached; each reading is its own call, so a
``NotSupported`` on one field (ECC on a consumer card, say) loses that field only. No library, no
driver or no device is a reported state (``status``), never an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("slo_agent.sidecar")

# NVML clock throttle reason bits (nvmlClocksThrottleReason*)
THROTTLE_REASONS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap",
    0x8: "hw_slowdown", 0x10: "sync_boost", 0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


@dataclass
class GPUReading:
    index: int
    uuid: str
    name: str
    utilization: float | None = None          # ratio 0-1
    memory_utilization: float | None = None   # ratio 0-1 (memory controller busy)
    memory_used: float | None = None          # bytes
    memory_total: float | None = None
    memory_free: float | None = None
    temperature: float | None = None          # celsius
    power: float | None = None                # watts
    power_limit: float | None = None
    sm_clock: float | None = None             # hertz
    memory_clock: float | None = None
    throttle_mask: int | None = None
    ecc_corrected: float | None = None
    ecc_uncorrected: float | None = None
    processes: list[tuple[int, str, float]] = field(default_factory=list)  # pid, name, bytes
    errors: list[str] = field(default_factory=list)


class GPUCollector:
    def __init__(self, mode: str = "auto", devices: list[int | str] | None = None,
                 nvml: Any = None) -> None:
        self.mode = mode
        self.devices = [str(d) for d in devices or []]
        self._nvml = nvml
        self._handles: list[tuple[int, Any, str, str]] = []
        self.status = "off" if mode == "off" else "not_started"
        self.error: str | None = None
        self.readings: list[GPUReading] = []

    def start(self) -> None:
        if self.mode == "off":
            return
        try:
            if self._nvml is None:
                import pynvml  # nvidia-ml-py

                self._nvml = pynvml
            nv = self._nvml
            nv.nvmlInit()
            count = nv.nvmlDeviceGetCount()
        except Exception as exc:   # library missing, driver not loaded, no permission
            self.status = "no_driver"
            self.error = f"{type(exc).__name__}: {exc}"
            if self.mode == "on":
                log.error("GPU monitoring is on but NVML is unavailable: %s", self.error)
            return
        for i in range(count):
            try:
                h = self._nvml.nvmlDeviceGetHandleByIndex(i)
                uuid = _text(self._nvml.nvmlDeviceGetUUID(h))
                name = _text(self._nvml.nvmlDeviceGetName(h))
            except Exception as exc:
                self.error = f"device {i}: {type(exc).__name__}: {exc}"
                continue
            if self.devices and str(i) not in self.devices and uuid not in self.devices:
                continue
            self._handles.append((i, h, uuid, name))
        self.status = "ok" if self._handles else "no_gpu"
        if not self._handles and self.mode == "on":
            log.error("GPU monitoring is on but no matching GPU was found")

    def collect(self) -> list[GPUReading]:
        if self.status != "ok":
            return []
        nv = self._nvml
        out = []
        for index, h, uuid, name in self._handles:
            r = GPUReading(index, uuid, name)

            def call(what: str, fn: Any, *args: Any, r: GPUReading = r) -> Any:
                try:
                    return fn(*args)
                except Exception as exc:   # NVMLError_NotSupported and friends: field missing
                    r.errors.append(f"{what}: {type(exc).__name__}")
                    return None

            util = call("utilization", nv.nvmlDeviceGetUtilizationRates, h)
            if util is not None:
                r.utilization = util.gpu / 100.0
                r.memory_utilization = util.memory / 100.0
            mem = call("memory", nv.nvmlDeviceGetMemoryInfo, h)
            if mem is not None:
                r.memory_used, r.memory_total = float(mem.used), float(mem.total)
                r.memory_free = float(mem.free)
            temp = call("temperature", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            r.temperature = None if temp is None else float(temp)
            power = call("power", nv.nvmlDeviceGetPowerUsage, h)
            r.power = None if power is None else power / 1000.0
            limit = call("power_limit", nv.nvmlDeviceGetEnforcedPowerLimit, h)
            r.power_limit = None if limit is None else limit / 1000.0
            sm = call("sm_clock", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
            r.sm_clock = None if sm is None else sm * 1e6
            mclk = call("memory_clock", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM)
            r.memory_clock = None if mclk is None else mclk * 1e6
            mask = call("throttle", nv.nvmlDeviceGetCurrentClocksThrottleReasons, h)
            r.throttle_mask = None if mask is None else int(mask)
            for attr, kind in (("ecc_corrected", nv.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                               ("ecc_uncorrected", nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED)):
                v = call(attr, nv.nvmlDeviceGetTotalEccErrors, h, kind, nv.NVML_VOLATILE_ECC)
                setattr(r, attr, None if v is None else float(v))
            procs = call("processes", nv.nvmlDeviceGetComputeRunningProcesses, h) or []
            for p in procs:
                used = getattr(p, "usedGpuMemory", None)
                if used is None:
                    continue
                r.processes.append((int(p.pid), _process_name(p.pid), float(used)))
            out.append(r)
        self.readings = out
        return out

    def signal_values(self) -> dict[str, dict[str, float]]:
        """Latest values per signal kind and GPU index, for the evaluator."""
        out: dict[str, dict[str, float]] = {"gpu_utilization": {}, "gpu_memory_ratio": {},
                                            "gpu_temperature": {}}
        for r in self.readings:
            key = str(r.index)
            if r.utilization is not None:
                out["gpu_utilization"][key] = r.utilization
            if r.memory_used is not None and r.memory_total:
                out["gpu_memory_ratio"][key] = r.memory_used / r.memory_total
            if r.temperature is not None:
                out["gpu_temperature"][key] = r.temperature
        return out

    def shutdown(self) -> None:
        if self.status == "ok" and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            return fh.read().strip()[:64]
    except OSError:
        return "unknown"
