"""What registries say about their rate limits, read from replies.

Docker Hub sends `ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 20;w=21600`
(the pull quota, a window of hours), and its abuse limit a plain-text 429 with
`Retry-After: 60`. GHCR writes the wait only in the message ("toomanyrequests:
retry-after: 12.5ms, allowed: 2000/minute") and answers 403 "secondary rate limit".
Headers are sometimes malformed (`RateLimit-Limit: ;w=21600`): anything unreadable is
ignored, never fatal."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

# A limit with this few requests left (or this fraction of the limit) is "near".
NEAR_REMAINING = 10
NEAR_FRACTION = 0.1
# A quota that resets later than this is not waited for: retrying quickly cannot help.
LONG_WAIT = 120.0

_COUNT = re.compile(r"^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?")
_WAIT_IN_TEXT = re.compile(
    r"retry[-_ ]after\W{0,3}(\d+(?:\.\d+)?)\s*"
    r"(ms|msec|milliseconds?|s|sec|seconds?|m|min|minutes?)?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RateLimit:
    """A registry's rate-limit state as one reply stated it; unknown parts are None."""

    limit: int | None = None
    remaining: int | None = None
    window: int | None = None  # seconds
    reset: float | None = None  # seconds from now until the quota refills
    source: str | None = None  # what the registry counts against (an IP, an account)

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    @property
    def near(self) -> bool:
        if self.remaining is None:
            return False
        if self.limit:
            return self.remaining <= max(NEAR_REMAINING, int(self.limit * NEAR_FRACTION))
        return self.remaining <= NEAR_REMAINING

    @property
    def long_wait(self) -> bool:
        """Exhausted, and refilling too late for a retry within this run to help."""
        if not self.exhausted:
            return False
        wait = self.reset if self.reset is not None else self.window
        return wait is None or wait > LONG_WAIT

    def describe(self) -> str:
        """`0 of 100 requests left (window 21600 s, resets in 40 s, counted for 1.2.3.4)`."""
        if self.remaining is None:
            head = "rate limit reached"
        elif self.limit is not None:
            head = f"{self.remaining} of {self.limit} requests left"
        else:
            head = f"{self.remaining} requests left"
        details = []
        if self.window is not None:
            details.append(f"window {self.window} s")
        if self.reset is not None:
            details.append(f"resets in {self.reset:.0f} s")
        if self.source:
            details.append(f"counted for {self.source}")
        return head + (f" ({', '.join(details)})" if details else "")


def read_rate_limit(headers: Mapping[str, str], now: float | None = None) -> RateLimit | None:
    """The rate-limit headers of a reply (`ratelimit-*`, `x-ratelimit-*`), or None."""
    limit, limit_window = _count(_header(headers, "ratelimit-limit", "x-ratelimit-limit"))
    remaining, window = _count(_header(headers, "ratelimit-remaining", "x-ratelimit-remaining"))
    if remaining is None and limit is None:
        return None
    return RateLimit(
        limit=limit,
        remaining=remaining,
        window=window or limit_window,
        reset=_reset(headers, now),
        source=_header(headers, "docker-ratelimit-source") or None,
    )


def wait_in_message(body: bytes) -> float | None:
    """A wait written only in an error message ("retry-after: 12.5ms"), in seconds."""
    text = body[:4096].decode("utf-8", "replace")
    match = _WAIT_IN_TEXT.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    if unit.startswith("m") and unit not in ("m", "min", "minute", "minutes"):
        return value / 1000.0
    if unit in ("m", "min", "minute", "minutes"):
        return value * 60.0
    return value


def is_secondary_rate_limit(status: int, body: bytes) -> bool:
    """GHCR's 403 "You have exceeded a secondary rate limit": retryable after a delay,
    unlike any other 403."""
    return status == 403 and b"rate limit" in body[:4096].lower()


def _header(headers: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return ""


def _count(value: str) -> tuple[int | None, int | None]:
    match = _COUNT.match(value)
    if match is None:
        return None, None
    window = int(match.group(2)) if match.group(2) else None
    return int(match.group(1)), window


def _reset(headers: Mapping[str, str], now: float | None) -> float | None:
    value = _header(headers, "ratelimit-reset", "x-ratelimit-reset").strip()
    try:
        number = float(value)
    except ValueError:
        return None
    current = time.time() if now is None else now
    # GitHub-style headers give an epoch time; the IETF draft gives seconds to wait.
    return max(0.0, number - current) if number > 1_000_000_000 else max(0.0, number)
