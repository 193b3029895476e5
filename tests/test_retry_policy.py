"""The transport's retry policy, fast: which answers are retried and how long it waits
between attempts, against the scripted in-process registry with waits recorded instead of
slept. (test_client_transport.py proves the same through a fault proxy and real registries.)"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import pytest
from fakereg import FakeRegistry, reset, respond

from manifestor.errors import DeadlineError, TransportError
from manifestor.remote.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from manifestor.remote.transport import Transport

POLICY = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, budget=5.0)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def transport(sleeps: list[float]) -> Iterator[Transport]:
    with_recorded_waits = Transport(retry=POLICY, sleep=sleeps.append)
    yield with_recorded_waits
    with_recorded_waits.close()


def ping(transport: Transport, fake: FakeRegistry, **options):
    return transport.request("GET", f"{fake.url}/v2/", **options)


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_a_retryable_status_is_tried_again(fake, transport, sleeps, status):
    fake.script(("GET", r"^/v2/$"), respond(status, "later"), times=2)

    assert ping(transport, fake).status == 200
    assert fake.count("GET") == 3 and len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 501, 505])
def test_other_statuses_are_answered_at_once(fake, transport, sleeps, status):
    fake.script(("GET", r"^/v2/$"), respond(status, "no"))

    assert ping(transport, fake).status == status
    assert fake.count("GET") == 1 and sleeps == []


def test_retry_status_set_is_exactly_the_transient_ones():
    assert RETRY_STATUSES == {408, 425, 429, 500, 502, 503, 504}


def test_a_status_that_persists_is_returned_after_the_last_attempt(fake, transport, sleeps):
    fake.script(("GET", r"^/v2/$"), respond(503, "down"), times=None)

    assert ping(transport, fake).status == 503
    assert fake.count("GET") == POLICY.attempts and len(sleeps) == POLICY.attempts - 1


def test_without_retry_one_attempt_is_made(fake, transport, sleeps):
    fake.script(("GET", r"^/v2/$"), respond(503, "down"), times=None)

    assert ping(transport, fake, retry=False).status == 503
    assert fake.count("GET") == 1 and sleeps == []


def test_a_reset_connection_is_tried_again_and_a_persistent_one_raised(fake, transport, sleeps):
    fake.script(("GET", r"^/v2/$"), reset(), times=1)
    assert ping(transport, fake).status == 200
    assert len(sleeps) == 1

    fake.script(("GET", r"^/v2/$"), reset(), times=None)
    with pytest.raises(TransportError):
        ping(transport, fake)
    assert len(sleeps) == 1 + POLICY.attempts - 1


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap(fake, transport, sleeps):
    fake.script(("GET", r"^/v2/$"), respond(500, "x"), times=3)

    ping(transport, fake)

    first, second, third = sleeps
    assert 0.01 <= first <= 0.02  # backoff, plus up to one backoff of jitter
    assert 0.02 <= second <= 0.03  # doubled, at the cap
    assert 0.02 <= third <= 0.03  # still at the cap


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0", 0.0), ("soon", None), ("", None), ("-3", None)],
)
def test_retry_after_seconds_are_honoured_within_the_budget(
    fake, transport, sleeps, value, expected
):
    headers = [("Retry-After", value)] if value else []
    fake.script(("GET", r"^/v2/$"), respond(429, "slow down", headers))

    ping(transport, fake)

    (wait,) = sleeps
    if expected is None:
        assert 0.01 <= wait <= 0.02  # no usable Retry-After: the backoff
    else:
        assert wait == expected


def test_retry_after_past_the_budget_fails_at_once(fake, transport, sleeps):
    fake.script(("GET", r"^/v2/$"), respond(429, "slow down", [("Retry-After", "60")]))
    with pytest.raises(DeadlineError, match="asked to wait 60 s"):
        ping(transport, fake)
    assert sleeps == []


def test_retry_after_as_a_date_in_the_past_means_now(fake, transport, sleeps):
    past = email.utils.formatdate(0, usegmt=True)
    fake.script(("GET", r"^/v2/$"), respond(503, "x", [("Retry-After", past)]))

    ping(transport, fake)

    assert sleeps == [0.0]


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        (None, 0.0, None),
        ("", 0.0, None),
        (" 7 ", 0.0, 7.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 40.0, 60.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 400.0, 0.0),
        ("not a date", 0.0, None),
        ("1.5", 0.0, None),
    ],
)
def test_parse_retry_after(value, now, expected):
    assert parse_retry_after(value, now) == expected


def test_parse_retry_after_uses_the_wall_clock_by_default():
    far = email.utils.formatdate(4_000_000_000, usegmt=True)
    assert parse_retry_after(far) > 3600
