"""Batch-job signals (retraining, ETL): success ratio over a day, duration, time since success."""

from __future__ import annotations

from dataclasses import replace

import agent.signals.inputs as inp
import agent.signals.query_shapes as pq
from agent import catalogue as cat
from agent.signals.record import (
    Aggregation,
    Compute,
    Direction,
    Example,
    Panel,
    Producer,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Unit

_UP, _DOWN = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE
_JOB = ("job",)
#: a job reports events; the sidecar is its exporter (a job process exits before any scrape)
_SIDECAR = (Producer.SIDECAR,)
_MAX = Aggregation.MAX
_RETRAIN = {"job": "retrain"}
_SUCCESS, _FAILURE = cat.JOB_RESULTS
_FAILED = f'result="{_FAILURE}"'
_FAILURES = pq.counter_events(cat.JOB_RUNS, _FAILED, window=cat.JOB_WINDOW)


def _since_inputs(s: inp.Synth, segments: list[inp.Segment]) -> list[dict[str, str]]:
    """time() - last success = v: the success timestamp runs with the clock, v behind it."""
    parts, t = [], 0
    for ticks, dist in segments:
        parts.append(f"{inp.num(t * s.tick - dist[0][0])}+{inp.num(s.tick)}x{ticks - 1}")
        t += ticks
    return [{"series": inp.series(cat.JOB_LAST_SUCCESS.name, s.base), "values": " ".join(parts)}]


_RECORDS = (
    SignalRecord(SignalKind.JOB_SUCCESS_RATIO, "Job success ratio", Unit.RATIO, _DOWN, _JOB,
                 SLIType.EVENTS, "jobs", "share of a job's finished runs that succeeded",
                 required=_JOB, default_warning="99%", default_critical="90%",
                 grafana_unit="percentunit", note="ratio of finished runs in the last day",
                 producers=_SIDECAR, metric=cat.JOB_RUNS,
                 examples=(Example(_RETRAIN, "99%", "90%"),),
                 value=pq.ratio(_FAILURES, good=True, fn="increase"),
                 events=pq.counter_events(cat.JOB_RUNS, _FAILED), settle=cat.JOB_WINDOW_SECONDS,
                 compute=Compute("job", {"what": "success_ratio"}), status_detail="detail",
                 inputs=inp.counter_ratio(cat.JOB_RUNS, "result", _FAILURE, _SUCCESS,
                                          good_share=True)),
    SignalRecord(SignalKind.JOB_DURATION, "Job duration", Unit.SECONDS, _UP, _JOB,
                 SLIType.TIMESLICES, "jobs", "duration of the job's last finished run",
                 learnable=True, required=_JOB, default_warning="1.5x baseline",
                 default_critical="3x baseline", grafana_unit="s", note="last finished run",
                 producers=_SIDECAR, metric=cat.JOB_LAST_DURATION, aggregation=_MAX,
                 examples=(Example(_RETRAIN, "1h", "3h"),),
                 compute=Compute("job", {"what": "duration"}), status_detail="detail",
                 inputs=inp.gauge(cat.JOB_LAST_DURATION)),
    SignalRecord(SignalKind.TIME_SINCE_SUCCESS, "Time since last successful run",
                 Unit.SECONDS, _UP, _JOB, SLIType.TIMESLICES, "jobs",
                 "time since the job last succeeded", required=_JOB, grafana_unit="s",
                 note="e.g. 26h / 50h for a daily retrain",
                 producers=_SIDECAR, metric=cat.JOB_LAST_SUCCESS, aggregation=_MAX,
                 examples=(Example(_RETRAIN, "26h", "50h"),),
                 value=lambda q: f"time() - {_MAX.promql(cat.JOB_LAST_SUCCESS.name + q.m)}",
                 compute=Compute("job", {"what": "since_success"}), inputs=_since_inputs,
                 status_detail="detail"),
)

PANELS = {
    SignalKind.JOB_SUCCESS_RATIO: Panel(
        "Jobs", 1.5, f"Job success ratio (last {cat.JOB_WINDOW})", lambda m: "", "",
        f"Share of finished runs that succeeded over the trailing {cat.JOB_WINDOW}, per job "
        "objective, dashed at its levels.", style="objectives"),
    SignalKind.TIME_SINCE_SUCCESS: Panel(
        "Jobs", 2, "Time since last successful run",
        lambda m: f"time() - {_MAX.promql(cat.JOB_LAST_SUCCESS.name + m, 'job_name')}",
        "{{job_name}}",
        "Time since each job last succeeded; dashed at the levels of the objective watching "
        "that job."),
    SignalKind.JOB_DURATION: Panel(
        "Jobs", 3, "Last run duration", None, "{{job_name}}",
        "Duration of each job's last finished run; dashed at absolute levels of the job's "
        "objective (baseline-relative ones are on its detail dashboard).", by="job_name"),
}

RECORDS = tuple(replace(r, panel=PANELS.get(r.kind)) for r in _RECORDS)
