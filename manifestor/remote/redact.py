"""What the debug trace (`--debug`, logger `manifestor.http`) may show of a request: URLs
and free text with query values that may carry upload state or signatures replaced, and
headers without their secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SAFE_QUERY_KEYS = frozenset({"digest", "mount", "from", "n", "last", "scope", "service", "tag"})
_QUERY_PARAM_IN_TEXT = re.compile(r"([?&])([^=&\s?#]+)=([^&\s'\")#]*)")


def redact_url(url: str) -> str:
    """Query values may carry upload state or signatures; keep only harmless ones."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed (a header a registry sent): show no query at all
        head, sep, _ = url.partition("?")
        return head + ("?REDACTED" if sep else "")
    if not parts.query:
        return url
    query = [
        (k, v if k in _SAFE_QUERY_KEYS else "REDACTED")
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe=":/")))


def redact_text(text: str) -> str:
    """Like `redact_url` for URLs inside free text: urllib3 quotes the whole URL in its
    errors ("Max retries exceeded with url: ...?_state=...")."""
    return _QUERY_PARAM_IN_TEXT.sub(
        lambda m: f"{m[1]}{m[2]}={m[3] if m[2] in _SAFE_QUERY_KEYS else 'REDACTED'}", text
    )


def trace_headers(headers: Mapping[str, str] | None, authorization: str | None) -> str:
    """A request's headers for the trace; of Authorization only its scheme."""
    shown = dict(headers or {})
    if authorization:
        shown["Authorization"] = authorization.split(" ", 1)[0] + " REDACTED"
    return "".join(f"\n    {k}: {v}" for k, v in shown.items())


def trace_response_headers(headers: Mapping[str, str]) -> str:
    """The reply headers worth tracing; a Location redacted like any URL."""
    keep = (
        "Content-Type",
        "Content-Length",
        "Docker-Content-Digest",
        "Location",
        "WWW-Authenticate",
        "Retry-After",
        "RateLimit-Remaining",
    )
    lines = []
    for name in keep:
        value = headers.get(name)
        if value is not None:
            lines.append(f"\n    {name}: {redact_url(value) if name == 'Location' else value}")
    return "".join(lines)
