"""URLs as they may be shown or logged: never a password, token or key that a URL can carry.

Scrape and webhook URLs come from the spec and can hold credentials (``user:pass@``, ``?api_key=``,
a token in a webhook's path); /status, the page and the log show the redacted form only.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
#: query parameter names that carry secrets (matched as a part of the name, any case)
SECRET_PARAM = re.compile(r"token|key|secret|pass|pwd|auth|sig|session|credential|code",
                          re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL without userinfo and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
        query = parts.query
        if query:
            query = urlencode([(k, MASK if SECRET_PARAM.search(k) else v)
                               for k, v in parse_qsl(query, keep_blank_values=True)],
                              safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return MASK


def origin(url: str) -> str:
    """Scheme and host only: webhook receivers (Slack, PagerDuty) carry the token in the path."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/{MASK}"
    except ValueError:
        return MASK


def scrub(text: str, url: str, shown: str) -> str:
    """``text`` (an error message) with every copy of ``url``, and of its secrets, replaced."""
    out = text.replace(url, shown)
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    secrets = [parts.password or "", parts.username or "", parts.path if shown.endswith(
        f"/{MASK}") else ""]
    # a driver echoes what it was given decoded: ``p%40ss`` in the URL is ``p@ss`` in its errors
    secrets += [unquote(s) for s in secrets] + [unquote_plus(s) for s in secrets]
    secrets += [v for k, v in parse_qsl(parts.query) if SECRET_PARAM.search(k)]
    for s in sorted(filter(lambda s: len(s) >= 3 and s != "/", set(secrets)), key=len,
                    reverse=True):
        out = out.replace(s, MASK)
    return out
