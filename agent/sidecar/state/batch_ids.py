"""The ids of the batches the ingest door accepted, so that one sent again is applied once.

An SDK whose POST timed out cannot know whether the sidecar took the batch (a slow or
CPU-starved sidecar often has), so it sends the batch again, under the same ``batch_id``. The
door *claims* an id when it decides the 2xx (under one lock, so two copies in flight at once
cannot both win), the worker marks it *applied* when it folds the batch in, and a copy whose id
is claimed or applied is answered 2xx as a duplicate and dropped. The snapshot holds the applied
ids only: after a restart the sidecar remembers exactly the batches its state holds.

Bounded: at most ``MAX_IDS`` applied ids, each forgotten ``TTL`` seconds after it was last seen
(a resend refreshes it, so a batch the SDK keeps resending stays known), the oldest first past
the cap. The SDK's copies of a batch come at most 30 s apart (its longest backoff; a
``Retry-After`` at most 60 s), well inside the TTL; ``slo-agent job-event`` resends what it
spooled at its next run, caught when that comes within the TTL. Claimed ids are those of
batches in the inbox, bounded by it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

MAX_IDS = 100_000
TTL = 600.0


class BatchIds:
    def __init__(self, cap: int = MAX_IDS, ttl: float = TTL) -> None:
        self.cap, self.ttl = cap, ttl
        self._lock = threading.Lock()
        self._applied: OrderedDict[str, float] = OrderedDict()   # id -> last seen, oldest first
        self._claimed: set[str] = set()
        self.duplicates = 0

    def claim(self, batch_id: str | None, now: float) -> bool:
        """True when the batch is new, its id now claimed (the caller queues it, or releases
        the id when it refuses the batch after all); False for a copy of one claimed or
        applied. A batch without an id (an older client) is always new."""
        if batch_id is None:
            return True
        with self._lock:
            if batch_id in self._applied:
                self._applied[batch_id] = now
                self._applied.move_to_end(batch_id)
            elif batch_id not in self._claimed:
                self._claimed.add(batch_id)
                return True
            self.duplicates += 1
            return False

    def release(self, batch_id: str | None) -> None:
        """The claimed batch was not accepted after all (4xx, 429): a resend is new."""
        if batch_id is not None:
            with self._lock:
                self._claimed.discard(batch_id)

    def applied(self, batch_id: str | None, now: float) -> None:
        """The worker folded the batch in: remembered until the TTL or the cap forgets it."""
        if batch_id is None:
            return
        with self._lock:
            self._claimed.discard(batch_id)
            self._applied[batch_id] = now
            self._applied.move_to_end(batch_id)
            while len(self._applied) > self.cap:
                self._applied.popitem(last=False)
            cutoff = now - self.ttl
            while self._applied and next(iter(self._applied.values())) < cutoff:
                self._applied.popitem(last=False)

    def __len__(self) -> int:
        return len(self._applied)

    def report(self) -> dict[str, Any]:
        """What ``/status`` shows (``sources.ingest.batch_ids``)."""
        with self._lock:
            return {"remembered": len(self._applied), "in_inbox": len(self._claimed),
                    "duplicates": self.duplicates, "cap": self.cap, "ttl": self.ttl}

    def state(self) -> dict[str, Any]:
        """The applied ids, oldest first, with when each was last seen (whole seconds)."""
        with self._lock:
            return {"ids": list(self._applied), "at": [int(t) for t in self._applied.values()]}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load what :meth:`state` wrote (its newest ``cap`` ids); raises on a malformed part,
        leaving this one unchanged."""
        ids, times = raw.get("ids") or [], raw.get("at") or []
        if len(ids) != len(times) or not all(isinstance(i, str) and len(i) <= 64 for i in ids):
            raise ValueError("batch ids: expected as many times as ids, each id a string")
        table = OrderedDict((i, float(t)) for i, t in zip(ids[-self.cap:], times[-self.cap:],
                                                          strict=True))
        with self._lock:
            self._applied = table
