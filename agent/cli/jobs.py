"""``slo-agent job-event``: report a batch job's runs to the sidecar from outside Python (cron,
Airflow, a shell script), or wrap a command so its exit status becomes the run's result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from agent import __version__

TIMEOUT = 10.0


class SendError(Exception):
    """The sidecar could not be reached or refused the event; the message says which."""


def event_item(job: str, event: str, run_id: str, at: float | None = None,
               duration: float | None = None, error: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "job", "job": job, "event": event, "run_id": run_id,
                            "at": time.time() if at is None else at}
    if duration is not None:
        item["duration"] = duration
    if error:
        item["error"] = error[:128]
    return item


def send(url: str, service: str, items: list[dict[str, Any]], token: str | None) -> None:
    body = json.dumps({"schema": 1, "service": service,
                       "instance": f"{socket.gethostname()}:job-event",
                       "sdk": {"name": "slo-agent-cli", "version": __version__},
                       "sent_at": time.time(), "items": items}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url.rstrip("/") + "/v1/ingest", data=body, headers=headers,
                                 method="POST")
    try:
        urllib.request.urlopen(req, timeout=TIMEOUT).read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise SendError(f"the sidecar at {url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SendError(f"could not reach the sidecar at {url}: {exc}") from None


def run_wrapped(url: str, service: str, job: str, command: list[str], token: str | None) -> int:
    """Run ``command`` as one run of ``job``: start before, success/failure by exit status."""
    run_id = uuid.uuid4().hex[:12]
    send(url, service, [event_item(job, "start", run_id)], token)
    start = time.time()
    error: str | None = None
    try:
        code = subprocess.call(command)
    except OSError as exc:
        code, error = 127, f"{type(exc).__name__}: {exc}"
    else:
        if code != 0:
            error = f"exit status {code}"
    send(url, service, [event_item(job, "success" if code == 0 else "failure", run_id,
                                   duration=time.time() - start, error=error)], token)
    return code


def default_url(listen: str | None) -> str:
    env = os.environ.get("SLO_AGENT_URL")
    if env:
        return env
    return f"http://{listen or '127.0.0.1:9464'}"
