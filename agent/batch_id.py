"""A batch's id on the ingest wire: made by the SDK and ``slo-agent job-event``, checked by the
sidecar's door. Its own small module, so the CLI takes it without importing the SDK."""

from __future__ import annotations

import secrets

#: what the door takes as a ``batch_id``
BATCH_ID_PATTERN = r"^[0-9A-Za-z_-]{16,64}$"


def new_batch_id() -> str:
    """128 random bits as hex: no two batches of any client share one."""
    return secrets.token_hex(16)
