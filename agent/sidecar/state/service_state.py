"""What the sidecar remembers of a service beyond its inference calls: batch-job runs, cache
lookups, degradation level, circuit breakers and the team's own gauges and counters.

Job history survives restarts (a daily retrain's last success must not be forgotten by a pod
restart); everything is bounded: finished runs are kept for a day, at most ``MAX_RUNS`` per job
and ``MAX_TOTAL_RUNS`` over all jobs (~25 bytes each in a snapshot, so ~1.3 MB at most).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agent.sidecar.state._slots import Slots
from agent.sidecar.state.persistence import put, restore_part

JOB_KEEP = 86400.0        # finished runs kept for the success ratio (catalogue.JOB_WINDOW)
MAX_RUNS = 1_000          # per job: one run every ~90 s over the day-long success window
MAX_TOTAL_RUNS = 50_000   # over all jobs; past it the longest histories are cut back
MAX_RUNNING = 20          # unfinished runs remembered per job (a crashed run never reports)
DAY = 86400.0


@dataclass
class JobState:
    running: dict[str, float] = field(default_factory=dict)       # run id -> start
    last_start: float | None = None
    last_duration: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_error: str | None = None
    success: float = 0.0                 # cumulative, for budget cursors and the exported counter
    failure: float = 0.0
    runs: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=MAX_RUNS))

    def event(self, event: str, at: float, run_id: str, duration: float | None,
              error: str | None) -> None:
        if event == "start":
            self.last_start = max(self.last_start or 0.0, at)
            if len(self.running) < MAX_RUNNING:
                self.running[run_id or f"anon-{at}"] = at
            return
        started = self.running.pop(run_id, None) if run_id else None
        if duration is None and started is not None:
            duration = max(0.0, at - started)
        if duration is not None:
            self.last_duration = duration
        ok = event == "success"
        if ok:
            self.success += 1
            self.last_success = max(self.last_success or 0.0, at)
        else:
            self.failure += 1
            self.last_failure = max(self.last_failure or 0.0, at)
            self.last_error = error
        self.runs.append((at, ok))

    def counts(self, now: float, window: float = JOB_KEEP) -> tuple[int, int]:
        """(failed, finished) runs in the window."""
        while self.runs and self.runs[0][0] < now - JOB_KEEP:
            self.runs.popleft()
        recent = [ok for t, ok in self.runs if t >= now - window]
        return recent.count(False), len(recent)

    def state(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("running", "last_start", "last_duration",
                                             "last_success", "last_failure", "last_error",
                                             "success", "failure")}
        out["runs"] = [list(r) for r in self.runs]
        return out

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> JobState:
        out = cls()
        for k in ("last_start", "last_duration", "last_success", "last_failure"):
            v = s.get(k)
            setattr(out, k, None if v is None else float(v))
        out.last_error = s.get("last_error")
        out.running = {str(k): float(v) for k, v in (s.get("running") or {}).items()}
        out.success, out.failure = float(s.get("success") or 0), float(s.get("failure") or 0)
        out.runs.extend((float(t), bool(ok)) for t, ok in s.get("runs") or [])
        return out


class Tally:
    """A counter the sidecar keeps both windowed (values) and cumulative (budget cursors)."""

    def __init__(self, slot: float, keep: float = DAY) -> None:
        self.slots = Slots(slot, keep)
        self.cum = 0.0

    def add(self, now: float, n: float) -> None:
        self.slots.add(now, n)
        self.cum += n

    def state(self) -> dict[str, Any]:
        return {"slots": self.slots.state(), "cum": self.cum}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Tally:
        out = cls(float(s["slots"]["slot"]))
        out.slots = Slots.from_state(s["slots"])
        out.cum = float(s.get("cum") or 0)
        return out


@dataclass
class ServiceSignals:
    slot: float
    jobs: dict[str, JobState] = field(default_factory=dict)
    caches: dict[tuple[str, str], Tally] = field(default_factory=dict)   # (cache, hit|miss)
    counters: dict[str, Tally] = field(default_factory=dict)
    gauges: dict[str, tuple[float, float]] = field(default_factory=dict)        # name -> (v, t)
    breakers: dict[str, tuple[float, float]] = field(default_factory=dict)
    degradation: dict[str, tuple[float, float]] = field(default_factory=dict)   # instance -> (v,t)
    total_runs: int = 0
    keep: float = DAY          # horizon of cache and counter tallies (only the rate window is read)

    def job(self, name: str) -> JobState:
        j = self.jobs.get(name)
        if j is None:
            j = self.jobs[name] = JobState()
        return j

    def job_event(self, name: str, event: str, at: float, run_id: str,
                  duration: float | None, error: str | None) -> None:
        """Record a job event, keeping the run history within ``MAX_TOTAL_RUNS``."""
        j = self.job(name)
        before = len(j.runs)
        j.event(event, at, run_id, duration, error)
        self.total_runs += len(j.runs) - before
        if self.total_runs > MAX_TOTAL_RUNS:
            self.trim_runs(at)

    def trim_runs(self, now: float) -> None:
        """Forget runs older than a day, then cut the longest histories to a fair share of
        90 % of the cap (amortised: trimming happens once per 5,000 runs at most)."""
        for j in self.jobs.values():
            while j.runs and j.runs[0][0] < now - JOB_KEEP:
                j.runs.popleft()
            for run_id in [r for r, t in j.running.items() if t < now - JOB_KEEP]:
                del j.running[run_id]     # a run that never reported its end
        total = sum(len(j.runs) for j in self.jobs.values())
        budget = MAX_TOTAL_RUNS * 9 // 10
        if total > budget:
            sizes = sorted(len(j.runs) for j in self.jobs.values())
            share, left, rest = 0, budget, len(sizes)
            for n in sizes:             # the largest share all jobs can keep within the budget
                share = left // rest
                if n > share:
                    break
                left -= n
                rest -= 1
            for j in self.jobs.values():
                while len(j.runs) > share:
                    j.runs.popleft()
            total = sum(len(j.runs) for j in self.jobs.values())
        self.total_runs = total

    def _cache(self, entry: list[Any]) -> None:
        c, r, t = entry
        self.caches[(str(c), str(r))] = Tally.from_state(t)

    def tally(self, table: dict[Any, Tally], key: Any) -> Tally:
        t = table.get(key)
        if t is None:
            t = table[key] = Tally(self.slot, self.keep)
        return t

    def state(self) -> dict[str, Any]:
        return {
            "jobs": {k: j.state() for k, j in self.jobs.items()},
            "caches": [[k[0], k[1], t.state()] for k, t in self.caches.items()],
            "counters": {k: t.state() for k, t in self.counters.items()},
            "gauges": {k: list(v) for k, v in self.gauges.items()},
            "breakers": {k: list(v) for k, v in self.breakers.items()},
            "degradation": {k: list(v) for k, v in self.degradation.items()},
        }

    def restore(self, s: dict[str, Any], dropped: list[str] | None = None) -> None:
        """Each job, cache, counter and gauge restores on its own (see ``restore_part``)."""
        out = [] if dropped is None else dropped
        for k, v in (s.get("jobs") or {}).items():
            restore_part(f"service.jobs[{k}]", out, put, self.jobs, str(k), JobState.from_state,
                         v)
        for i, entry in enumerate(s.get("caches") or []):
            restore_part(f"service.caches[{i}]", out, self._cache, entry)
        for k, v in (s.get("counters") or {}).items():
            restore_part(f"service.counters[{k}]", out, put, self.counters, str(k),
                         Tally.from_state, v)
        for name in ("gauges", "breakers", "degradation"):
            table = getattr(self, name)
            for k, v in (s.get(name) or {}).items():
                restore_part(f"service.{name}[{k}]", out, put, table, str(k), _pair, v)
        self.total_runs = sum(len(j.runs) for j in self.jobs.values())


def _pair(v: list[Any]) -> tuple[float, float]:
    return float(v[0]), float(v[1])
