"""``slo-agent job-event``: report a batch job's runs to the sidecar from outside Python (cron,
Airflow, a shell script), or wrap a command so its exit status becomes the run's result.

A wrapped command always runs and the wrapper always exits with its status: a monitoring agent
that is down, misconfigured or restarting must never fail (or skip) the job it watches. An event
the sidecar could not be told is said on stderr and kept in a small spool file (``--spool``,
``$SLO_AGENT_SPOOL``, default ``$XDG_STATE_HOME/slo-agent/job-events.jsonl``, i.e.
``~/.local/state/slo-agent/job-events.jsonl``) that the next ``job-event`` sends first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agent import __version__
from agent.batch_id import BATCH_ID_PATTERN, new_batch_id

TIMEOUT = 5.0
SPOOL_MAX = 1000            # events kept at most (oldest dropped first, and said so)
ENV_SPOOL = "SLO_AGENT_SPOOL"
#: answers after which a kept event is worth sending again (the token or sidecar may be fixed)
RETRYABLE = {401, 403, 404, 408, 409, 425, 429}


class SendError(Exception):
    """The sidecar could not be reached or refused the event; the message says which."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final      # the sidecar refused these items: resending will not help


def event_item(job: str, event: str, run_id: str, at: float | None = None,
               duration: float | None = None, error: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "job", "job": job, "event": event, "run_id": run_id,
                            "at": time.time() if at is None else at}
    if duration is not None:
        item["duration"] = duration
    if error:
        item["error"] = error[:128]
    return item


def send(url: str, service: str, items: list[dict[str, Any]], token: str | None,
         batch_id: str | None = None) -> None:
    """POST ``items`` as one batch; ``batch_id`` (the same when these items are sent again)
    lets the sidecar apply them once, though an answer that timed out made us resend."""
    body = json.dumps({"schema": 1, "service": service,
                       "instance": f"{socket.gethostname()}:job-event",
                       "sdk": {"name": "slo-agent-cli", "version": __version__},
                       "sent_at": time.time(), "batch_id": batch_id or new_batch_id(),
                       "items": items}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url.rstrip("/") + "/v1/ingest", data=body, headers=headers,
                                 method="POST")
    try:
        urllib.request.urlopen(req, timeout=TIMEOUT).read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise SendError(f"the sidecar at {url} answered {exc.code}: {detail}",
                        final=400 <= exc.code < 500 and exc.code not in RETRYABLE) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SendError(f"could not reach the sidecar at {url}: {exc}") from None


def default_spool() -> Path:
    env = os.environ.get(ENV_SPOOL)
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "slo-agent" / "job-events.jsonl"


class Spool:
    """Events not yet told to a sidecar, one JSON object a line, at most ``cap`` of them.

    Each line holds the sidecar URL, the service, the item and the id of the batch it was
    sent in (sent again as that batch: the sidecar may have taken it), so one spool serves
    several jobs and sidecars; concurrent cron jobs are serialised by an advisory lock."""

    def __init__(self, path: Path, warn: Callable[[str], None], cap: int = SPOOL_MAX) -> None:
        self.path, self.warn, self.cap = path, warn, cap

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        """The spool's records, written back (capped) when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as fh:
            try:
                import fcntl
                fcntl.flock(fh, fcntl.LOCK_EX)
            except (ImportError, OSError):
                pass
            fh.seek(0)
            records: list[dict[str, Any]] = []
            for line in fh:
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if isinstance(rec, dict) and isinstance(rec.get("item"), dict):
                        records.append(rec)
            try:
                yield records
            finally:        # written back also when the block fails part-way
                if len(records) > self.cap:
                    self.warn(f"job-event spool {self.path} full: dropped the "
                              f"{len(records) - self.cap} oldest event(s)")
                    del records[:len(records) - self.cap]
                fh.seek(0)
                fh.truncate()
                fh.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)

    def keep(self, url: str, service: str, items: list[dict[str, Any]],
             batch_id: str | None = None) -> None:
        """Keep ``items``, sent (or not) as the batch ``batch_id`` (default: a new one)."""
        batch_id = batch_id or new_batch_id()
        try:
            with self._locked() as records:
                records.extend({"url": url, "service": service, "item": i,
                                "batch_id": batch_id} for i in items)
            self.warn(f"kept {len(items)} event(s) in {self.path}; the next job-event sends them")
        except OSError as exc:
            self.warn(f"could not keep the event in {self.path}: {exc}; it is lost")

    def send_with(self, url: str, service: str, items: list[dict[str, Any]],
                  token: str | None, batch_id: str | None = None) -> None:
        """Send ``items`` after the spooled events for the same sidecar and service; on
        failure everything unsent is kept (raises SendError). Events the sidecar refuses as
        invalid are dropped with a line on stderr, so they never block later ones."""
        try:
            if self.path.exists():
                self._send_kept(url, service, token)
        except OSError as exc:
            self.warn(f"could not read the spool {self.path}: {exc}")
        send(url, service, items, token, batch_id)

    def _send_kept(self, url: str, service: str, token: str | None) -> None:
        with self._locked() as records:
            mine = [r for r in records if r.get("url") == url and r.get("service") == service]
            # one batch per id they were first sent under (a spool of an older version has
            # none: those go as one new batch)
            batches: dict[str, list[dict[str, Any]]] = {}
            fresh = new_batch_id()
            for r in mine:
                bid = r.get("batch_id")
                if not isinstance(bid, str) or re.match(BATCH_ID_PATTERN, bid) is None:
                    bid = fresh
                batches.setdefault(bid, []).append(r)
            done: list[dict[str, Any]] = []
            try:
                for bid, batch in batches.items():
                    try:
                        send(url, service, [r["item"] for r in batch], token, bid)
                        self.warn(f"sent {len(batch)} kept event(s) from {self.path}")
                    except SendError as exc:
                        if not exc.final:
                            raise
                        self.warn(f"dropped {len(batch)} kept event(s) the sidecar refused: "
                                  f"{exc}")
                    done += batch
            finally:        # what was sent or refused leaves the spool, whatever follows
                gone = {id(r) for r in done}
                records[:] = [r for r in records if id(r) not in gone]


def report(spool: Spool, url: str, service: str, items: list[dict[str, Any]],
           token: str | None) -> bool:
    """Tell the sidecar, or say why not on stderr and keep the events; True when told."""
    batch_id = new_batch_id()
    try:
        spool.send_with(url, service, items, token, batch_id)
        return True
    except SendError as exc:
        spool.warn(f"{exc}")
        if not exc.final:
            spool.keep(url, service, items, batch_id)
        return False


def run_wrapped(url: str, service: str, job: str, command: list[str], token: str | None,
                spool: Spool) -> int:
    """Run ``command`` as one run of ``job`` (start before, success/failure by exit status);
    returns the command's exit status whatever happens to the reports."""
    run_id = uuid.uuid4().hex[:12]
    start = time.time()
    report(spool, url, service, [event_item(job, "start", run_id, at=start)], token)
    error: str | None = None
    try:
        code = subprocess.call(command)
    except OSError as exc:
        code, error = 127, f"{type(exc).__name__}: {exc}"
    else:
        if code != 0:
            error = f"exit status {code}"
    report(spool, url, service, [event_item(job, "success" if code == 0 else "failure", run_id,
                                            duration=time.time() - start, error=error)], token)
    return code


def default_url(listen: str | None) -> str:
    env = os.environ.get("SLO_AGENT_URL")
    if env:
        return env
    return f"http://{listen or '127.0.0.1:9464'}"
