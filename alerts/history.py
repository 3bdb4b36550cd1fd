"""How long an objective's data has run, for start-up (issue 34): a burn window holding less
data than its length counts the missing part as unknown, so each window's coverage (the share of
it that holds data) is read from one recording per objective, ``slo:sli_history:seconds``.

The recording is cheap at every evaluation: it extends its own last value by the time since it
was recorded (at most the longest burn window), as the sidecar counts ``now - first_seen``. Only
where it has none (the first evaluation with data, or after Prometheus was down past the
lookback) does it take the seed, read from the samples already stored, so history that predates
the rules (backfilled) counts.
"""

from __future__ import annotations

import math

from agent.sli import ObjectivePlan, prom_duration


def history_expr(p: ObjectivePlan) -> str:
    """The recording: its own last value plus the time since, or the seed."""
    own = f"{p.history_name}{p.rec_matchers}"
    longest = max(p.coverage_seconds)
    return (f"clamp_max({own} + time() - timestamp({own}), {longest:.10g})\n"
            f"or on()\n{history_seed_expr(p)}")


def history_seed_expr(p: ObjectivePlan) -> str:
    """Seconds since the earliest sample stored within the longest burn window (gaps count, as
    the sidecar counts them), from lookups, never a scan of days of samples (PromQL evaluates
    both sides of ``or``, so the seed is paid at each evaluation): within :func:`history_fine`
    exactly, from the samples' timestamps at each evaluation interval; beyond it, the longest
    of :func:`history_probes` at which the series already held a sample (``offset``: one lookup
    each). A window whose length is a probe is seen full exactly; a longer history is read short
    by less than one probe step (towards unknown)."""
    sel = p.coverage_selector
    every = prom_duration(p.spec.alerting.evaluation_interval)
    exact = (f"time() - min_over_time(max(timestamp({sel}))"
             f"[{prom_duration(history_fine(p))}:{every}])")
    probes = [f"max({sel} offset {prom_duration(s)}) * 0 + {s:.10g}"
              for s in reversed(history_probes(p))]
    return "\nor on()\n".join([*probes, f"({exact})"])


def history_fine(p: ObjectivePlan) -> float:
    """How far back the seed reads timestamps at each evaluation interval: ten of them."""
    return min(max(p.coverage_seconds), 10 * p.spec.alerting.evaluation_interval)


def history_probes(p: ObjectivePlan) -> list[float]:
    """Ages the seed probes beyond :func:`history_fine`, up to the longest window: every burn
    window, and steps of at most double (whole evaluation intervals) between, a dozen for the
    default tiers. Each probe is a lookup at every evaluation, so they are few: a history is
    read short by up to half only when seeded (after a restart past the lookback, or rules
    installed on stored data), and only until it grows back."""
    longest, every = max(p.coverage_seconds), p.spec.alerting.evaluation_interval
    ages = [history_fine(p)]
    while ages[-1] < longest:
        age = ages[-1]
        ages.append(min([every * math.ceil(age * 2 / every), longest,
                         *(w for w in p.coverage_seconds if w > age)]))
    return ages


def coverage_expr(p: ObjectivePlan, seconds: float) -> str:
    """Share of a window that holds data (at most 1); one series per objective, which a query
    that keeps labels of its own (``sum by (case)``) shares (``group_left``)."""
    return f"clamp_max({p.history_name}{p.rec_matchers} / {seconds:.10g}, 1)"


__all__ = ["coverage_expr", "history_expr", "history_fine", "history_probes",
           "history_seed_expr"]
