"""A finished exchange (HttpResponse): the status and headers, the body read up to a cap
or left to stream, and how many attempts it took; and reading a reply within that cap, so
a hostile registry cannot make us hold more than we asked for."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests
from requests.structures import CaseInsensitiveDict

from manifestor.errors import DeadlineError, ManifestTooLargeError
from manifestor.remote.failures import transport_error
from manifestor.remote.redact import redact_url
from manifestor.remote.watchdog import Exchange

_CONTENT_LENGTH = re.compile(r"[0-9]+")  # ASCII digits only: "²".isdigit() is True


@dataclass
class HttpResponse:
    """A finished exchange. `body` is read (capped) unless the request asked to stream."""

    status: int
    url: str
    headers: CaseInsensitiveDict[str]
    body: bytes = b""
    challenges: tuple[str, ...] = ()
    raw: requests.Response | None = field(default=None, repr=False)
    reason: str = ""
    # How many times the request was sent and over how long: for "answered 503 Service
    # Unavailable 5 times over 31 s".
    attempts: int = 1
    elapsed: float = 0.0
    exchange: Exchange | None = field(default=None, repr=False)

    def iter_content(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        if self.raw is None:
            yield self.body
            return
        try:
            yield from self.raw.iter_content(chunk_size)
        except requests.exceptions.RequestException as exc:
            # A stream that breaks after its headers is past `request`'s own handling;
            # report it typed, like any other connection failure.
            if self.exchange is not None and self.exchange.expired:
                raise DeadlineError(
                    f"reading {redact_url(self.url)} took longer than its "
                    f"{self.exchange.limit:g} s limit; cut off"
                ) from None
            raise transport_error(exc, self.url) from exc
        finally:
            if self.exchange is not None:
                self.exchange.stop()

    def close(self) -> None:
        if self.exchange is not None:
            self.exchange.stop()
        if self.raw is not None:
            self.raw.close()

    def describe(self) -> str:
        """`503 Service Unavailable 5 times over 31 s`, or `HTTP 404` for one answer."""
        said = f"{self.status} {self.reason}".strip()
        if self.attempts > 1:
            return f"{said} {self.attempts} times over {self.elapsed:.0f} s"
        return f"HTTP {said}"


def read_capped(raw: requests.Response, limit: int, truncate: bool, url: str) -> bytes:
    """At most `limit` bytes of `raw`'s body: cut there if `truncate`, else a body over
    it (declared or sent) is a ManifestTooLargeError."""
    declared = raw.headers.get("Content-Length") or ""
    if _CONTENT_LENGTH.fullmatch(declared) and int(declared[:20]) > limit and not truncate:
        raise ManifestTooLargeError(
            f"response from {redact_url(url)} is {declared} bytes, over the {limit} byte limit"
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in raw.iter_content(64 * 1024):
        total += len(chunk)
        if total > limit:
            if truncate:
                chunks.append(chunk[: limit - (total - len(chunk))])
                break
            raise ManifestTooLargeError(
                f"response from {redact_url(url)} exceeds the {limit} byte limit"
            )
        chunks.append(chunk)
    return b"".join(chunks)
