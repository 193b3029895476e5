"""URLs a registry hands us (a Location, a Link, a token realm) made safe to use: resolved
against the request's URL and refused unless well-formed http(s); and the authority
(`host:port`) that credentials belong to."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from manifestor.errors import MalformedResponseError
from manifestor.remote.redact import redact_url


def authority(url: str) -> str:
    """`https://Host:443/x` -> `host:443`; the unit a credential belongs to."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = (parts.hostname or "").lower()
    except ValueError:  # a bad port or IPv6 literal, from a header the registry sent
        raise MalformedResponseError(f"invalid URL {_quoted_url(url)}") from None
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def join_url(base: str, reference: str, what: str) -> str:
    """`reference` (a Location, a Link, a token realm) resolved against `base`; anything
    that is not a well-formed http(s) URL is a MalformedResponseError naming `what`."""
    try:
        url = urljoin(base, reference.strip())
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise MalformedResponseError(
            f"{what} is not a valid URL: {_quoted_url(reference)}"
        ) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c in url for c in "\r\n\x00 ")
    ):
        raise MalformedResponseError(f"{what} is not an http(s) URL: {_quoted_url(reference)}")
    return url


def _quoted_url(url: str) -> str:
    return repr(redact_url(url)[:200])
