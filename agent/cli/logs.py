"""Logging for long-running commands: readable on a terminal, one JSON object per line when not."""

from __future__ import annotations

import json
import logging
import sys
import time


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("{"):
            try:
                payload = json.loads(msg)
            except ValueError:
                payload = {"message": msg}
        else:
            payload = {"message": msg}
        payload.update(level=record.levelname.lower(), logger=record.name,
                       ts=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%H:%M:%S"))
    else:
        handler.setFormatter(JSONFormatter())
    root = logging.getLogger("slo_agent")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
