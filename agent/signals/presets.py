"""Scrape presets, a plain data table beside the records: the native metrics of common model
servers mapped onto signal kinds, from each server's documented Prometheus exposition. A target's
own ``metrics`` entries override these. How a mapped value combines across series (two engines
behind one target) is the kind's record's aggregation, never the preset's.

Each mapping is one of: ``metric`` (a gauge summed, a counter as a rate, a histogram's quantile);
``bad``/``good`` with ``total`` (a ratio of counters; with both ``bad`` and ``good`` and no
``total``, total is their sum); ``sum``/``count`` with ``scale`` (a mean from two counters, e.g.
Triton's cumulative microseconds over its request count). ``labels`` filter the series; a
target's own ``labels`` (e.g. one model of several) apply to every mapping.
"""

from __future__ import annotations

from typing import Any

from agent.signals.record import SignalKind as K

#: preset → signal kind → mapping; ``model_label`` names the label that carries the model
PRESETS: dict[str, dict[str, Any]] = {
    # vLLM's /metrics (vllm: prefix): requests by finished_reason (stop, length, abort)
    "vllm": {"model_label": "model_name", "metrics": {
        K.QUEUE_DEPTH: {"metric": "vllm:num_requests_waiting"},
        K.IN_FLIGHT: {"metric": "vllm:num_requests_running"},
        K.TTFT: {"metric": "vllm:time_to_first_token_seconds"},
        K.TIME_PER_OUTPUT_TOKEN: {"metric": "vllm:time_per_output_token_seconds"},
        K.LATENCY: {"metric": "vllm:e2e_request_latency_seconds"},
        K.TOKEN_RATE: {"metric": "vllm:generation_tokens_total"},
        K.KV_CACHE_USAGE: {"metric": "vllm:gpu_cache_usage_perc"},
        K.ERROR_RATE: {"bad": "vllm:request_success_total",
                       "bad_labels": {"finished_reason": "abort"},
                       "total": "vllm:request_success_total"},
    }},
    # Hugging Face text-generation-inference (tgi_ prefix)
    "tgi": {"model_label": None, "metrics": {
        K.QUEUE_DEPTH: {"metric": "tgi_queue_size"},
        K.IN_FLIGHT: {"metric": "tgi_batch_current_size"},
        K.LATENCY: {"metric": "tgi_request_duration"},
        K.QUEUE_WAIT: {"metric": "tgi_request_queue_duration"},
        K.ERROR_RATE: {"good": "tgi_request_success", "total": "tgi_request_count"},
    }},
    # NVIDIA Triton Inference Server (nv_ prefix), per model and version labels
    "triton": {"model_label": "model", "metrics": {
        K.ERROR_RATE: {"bad": "nv_inference_request_failure",
                       "good": "nv_inference_request_success"},
        K.LATENCY: {"sum": "nv_inference_request_duration_us",
                    "count": "nv_inference_request_success", "scale": 1e-6},
        K.QUEUE_WAIT: {"sum": "nv_inference_queue_duration_us",
                       "count": "nv_inference_request_success", "scale": 1e-6},
        K.QUEUE_DEPTH: {"metric": "nv_inference_pending_request_count"},
        K.GPU_UTILIZATION: {"metric": "nv_gpu_utilization"},
    }},
    # TorchServe's metrics API (ts_ prefix; frontend status counters Requests2XX/4XX/5XX)
    "torchserve": {"model_label": "model_name", "metrics": {
        K.THROUGHPUT: {"metric": "ts_inference_requests_total"},
        K.LATENCY: {"sum": "ts_inference_latency_microseconds",
                    "count": "ts_inference_requests_total", "scale": 1e-6},
        K.QUEUE_WAIT: {"sum": "ts_queue_latency_microseconds",
                       "count": "ts_inference_requests_total", "scale": 1e-6},
        # frontend status counters are server-wide: the model filter does not apply
        K.ERROR_RATE: {"bad": "Requests5XX", "good": "Requests2XX", "model_scoped": False},
    }},
}


def preset_names(kind: K) -> dict[str, str]:
    """The kind's series in each preset that maps it (``bad / total`` for a ratio of counters,
    ``sum / count`` for a mean): the names a kind has on each model server."""
    out = {}
    for preset, table in PRESETS.items():
        m = table["metrics"].get(kind)
        if m is None:
            continue
        if "metric" in m:
            out[preset] = m["metric"]
        elif "sum" in m:
            out[preset] = f"{m['sum']} / {m['count']}"
        elif "total" not in m:
            out[preset] = f"{m['bad']} / ({m['bad']} + {m['good']})"
        elif "bad" in m:
            only = ",".join(f'{k}="{v}"' for k, v in m.get("bad_labels", {}).items())
            out[preset] = f"{m['bad']}{{{only}}} / {m['total']}" if only else \
                f"{m['bad']} / {m['total']}"
        else:
            out[preset] = f"1 - {m['good']} / {m['total']}"
    return out
