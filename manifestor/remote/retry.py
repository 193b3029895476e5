"""Which requests are tried again, and how long to wait first (tenacity is the engine,
imported when a first attempt fails in a way worth another: most runs never need it).

Retried: connection failures, an exchange cut off at its time limit, 408, 425, 429 and
5xx, and GHCR's 403 "secondary rate limit"; not a quota that refills in hours, and never a
certificate problem. The wait honours Retry-After (or GHCR's "retry-after" in the body),
else backs off exponentially with jitter. The retries of one request share a budget, and
the run's deadline bounds them too: a wait that does not fit gives up at once, saying why."""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from manifestor.errors import DeadlineError, TLSError, TransportError
from manifestor.remote.failures import short_reason
from manifestor.remote.ratelimit import is_secondary_rate_limit, read_rate_limit, wait_in_message
from manifestor.remote.redact import redact_text, redact_url
from manifestor.remote.response import HttpResponse
from manifestor.remote.watchdog import RequestCut

if TYPE_CHECKING:
    from tenacity import RetryCallState, Retrying

log = logging.getLogger("manifestor.http")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Methods whose repetition cannot do anything twice; others are retried by their caller.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_DELTA_SECONDS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in total, backoff between them, the time all attempts of
    one request may take together (`budget`: a Retry-After that does not fit in what is
    left fails at once), and the total time limit of one exchange (`request_limit`)."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 8.0
    budget: float = 120.0
    request_limit: float = 120.0


class RetryableStatus(Exception):
    """A reply worth another attempt; returned to the caller if it is the last one."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class GiveUp(Exception):
    """Waiting for the next attempt would not fit in the time left."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when
    the header is absent or malformed (then the usual backoff applies)."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):  # ASCII digits only: "²".isdigit() is True
        return float(value) if len(value) < 20 else math.inf
    try:
        when = email.utils.parsedate_to_datetime(value)
        stamp = when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, stamp - (time.time() if now is None else now))


def retryable_reply(response: HttpResponse) -> bool:
    """A status worth another attempt; not a quota that refills in hours (Docker Hub's
    pull limit), but GHCR's 403 "secondary rate limit" is."""
    if response.status == 429:
        quota = read_rate_limit(response.headers)
        return quota is None or not quota.long_wait
    if response.status in RETRY_STATUSES:
        return True
    return is_secondary_rate_limit(response.status, response.body)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableStatus | RequestCut):
        return True
    if isinstance(exc, TransportError) and not isinstance(exc, TLSError):
        # A streamed body (a blob copied from another registry) broke while being sent:
        # its BodySource opens a fresh stream for the next attempt.
        return exc.__cause__ is not None and is_retryable(exc.__cause__)
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.Timeout,
    )


def retrying(
    policy: RetryPolicy,
    method: str,
    url: str,
    *,
    attempts: int,
    started: float,
    remaining: Callable[[], float | None],
    sleep: Callable[[float], None],
) -> Retrying:
    """tenacity's loop for one request begun at `started`: at most `attempts` tries while
    the failure `is_retryable`; `remaining` tells the run's time left (None: no deadline).
    The last failure is raised as itself; a wait that does not fit raises GiveUp. The
    transport makes its first attempt before calling this, and replays that attempt's
    failure as tenacity's attempt 1."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt

    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=lambda state: _wait(state, policy, method, url, started, attempts, remaining),
        retry=retry_if_exception(is_retryable),
        sleep=sleep,
        reraise=True,
        before_sleep=_log_retry,
    )


def _wait(
    state: RetryCallState,
    policy: RetryPolicy,
    method: str,
    url: str,
    started: float,
    allowed: int,
    remaining: Callable[[], float | None],
) -> float:
    if state.attempt_number >= allowed:
        return 0.0  # no next attempt: the last answer is what the caller gets
    exc = state.outcome.exception() if state.outcome else None
    budget_left = policy.budget - (time.monotonic() - started)
    run_left = remaining()
    left = budget_left if run_left is None else min(budget_left, run_left)
    after = None
    if isinstance(exc, RetryableStatus):
        after = parse_retry_after(exc.response.headers.get("Retry-After"))
        if after is None:
            after = wait_in_message(exc.response.body)  # GHCR: "retry-after: 12.5ms"
    if after is not None:
        wait = after
    else:
        # Spelt as exponential + random rather than wait_exponential_jitter, whose
        # `initial` argument is deprecated in tenacity 9.2 and `multiplier` absent in 8.x.
        from tenacity.wait import wait_exponential, wait_random

        jitter = wait_random(0, policy.backoff)
        backoff = wait_exponential(multiplier=policy.backoff, max=policy.max_backoff) + jitter
        wait = backoff(state)
    if wait > left:
        host = urlsplit(url).netloc
        which = "the run's time limit (--timeout)" if left == run_left else "the retry budget"
        if after is not None:
            status = exc.response.status if isinstance(exc, RetryableStatus) else 0
            raise GiveUp(
                DeadlineError(
                    f"{host} answered {status} and asked to wait {_seconds(after)} "
                    f"(Retry-After) before {method} {redact_url(url)} is tried again; "
                    f"that is more than the {max(left, 0):.0f} s left of {which}"
                )
            )
        raise GiveUp(
            DeadlineError(
                f"gave up on {method} {redact_url(url)} after {state.attempt_number} "
                f"attempts over {time.monotonic() - started:.0f} s ({which} ran out): "
                f"{_outcome_text(exc)}"
            )
        )
    return wait


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    log.debug(
        "retrying after %s (attempt %d), waiting %.2fs",
        redact_text(str(exc)),
        state.attempt_number,
        delay,
    )


def _seconds(value: float) -> str:
    return "for ever" if math.isinf(value) else f"{value:.0f} s"


def _outcome_text(exc: BaseException | None) -> str:
    if isinstance(exc, RetryableStatus):
        return f"last answer {exc.response.status} {exc.response.reason}".strip()
    if isinstance(exc, requests.exceptions.RequestException):
        return short_reason(exc)
    return redact_text(str(exc))[:200] if exc else "no answer"
