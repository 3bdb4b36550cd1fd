"""Names and label values Kubernetes accepts: DNS-1123 labels for object names (63 characters,
lowercase alphanumerics and '-'), and label values (63 characters, alphanumerics, '-', '_', '.',
starting and ending alphanumeric). Long inputs keep a readable prefix plus a short hash, so two
objectives never collide into one name."""

from __future__ import annotations

import hashlib
import re

MAX = 63
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _shorten(text: str, limit: int, original: str) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(original.encode()).hexdigest()[:8]
    return text[: limit - 9].rstrip("-_.") + "-" + digest


def object_name(*parts: str, limit: int = MAX) -> str:
    """A DNS-1123 label from free text: ``Fraud API``, ``p95.latency`` → ``fraud-api-p95-latency``.
    """
    original = "-".join(parts)
    text = re.sub(r"[^a-z0-9]+", "-", original.lower()).strip("-") or "slo"
    if not text[0].isalnum():
        text = "x" + text
    out = _shorten(text, limit, original).strip("-")
    assert DNS1123.match(out), out
    return out


def label_value(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    out = _shorten(cleaned, MAX, text).strip("-_.")
    assert LABEL_VALUE.match(out), out
    return out
