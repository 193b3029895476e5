"""Scripting and observation: rules that replace or disturb the fake's answers, and the log
of every request it served (with the peak number handled at once).

A rule is `match` (a `(method, path regex)` pair, `re.search`ed, method `None` for any, or a
predicate on the Request) plus an `Action`, used `times` times (None = for ever). Rules are
tried in the order added; the first live match wins.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from .wire import Request, Response, error

Match = tuple[str | None, str] | Callable[[Request], bool]
Hook = Callable[[Request], None]


@dataclass(frozen=True)
class Action:
    """What to do to one request. Fields combine: e.g. a delay, then the registry's own
    answer, then the connection reset before the reply is sent (`reset="after"`)."""

    answer: Response | None = None  # answered instead of the registry (it never sees it)
    delay: float = 0.0  # seconds to wait before handling
    before: Hook | None = None  # run just before the registry handles the request
    after: Hook | None = None  # run after the registry handled it, before the reply goes out
    reset: Literal["before", "after"] | None = None  # RST the connection at that point
    truncate: int | None = None  # send only this many body bytes, then close
    drip: tuple[int, float] | None = None  # (chunk bytes, seconds between chunks)

    def __add__(self, other: Action) -> Action:
        """Combine two actions; `other`'s set fields win."""
        changes = {
            name: value for name, value in vars(other).items() if value != getattr(Action(), name)
        }
        return replace(self, **changes)


def passthrough() -> Action:
    """Answer normally (useful to consume the first N matches of a later rule)."""
    return Action()


def respond(
    status: int, body: bytes | str = b"", headers: Sequence[tuple[str, str]] = ()
) -> Action:
    data = body.encode() if isinstance(body, str) else body
    return Action(answer=Response(status, data, tuple(headers)))


def fail(status: int, code: str, message: str, headers: Sequence[tuple[str, str]] = ()) -> Action:
    """Answer with distribution's JSON error body."""
    return Action(answer=error(status, code, message, headers=headers))


def delay(seconds: float) -> Action:
    return Action(delay=seconds)


def reset() -> Action:
    """Drop the connection (RST) before the registry sees the request."""
    return Action(reset="before")


def lose_reply() -> Action:
    """The registry handles the request (a blob is committed, a tag moves) but the reply is
    lost: the connection is reset instead."""
    return Action(reset="after")


def truncate(nbytes: int) -> Action:
    return Action(truncate=nbytes)


def drip(chunk: int, interval: float) -> Action:
    return Action(drip=(chunk, interval))


def call(hook: Hook, *, after: bool = False) -> Action:
    """Run `hook(request)` at that moment, e.g. move a tag between a client's HEAD and PUT."""
    return Action(after=hook) if after else Action(before=hook)


@dataclass
class Rule:
    match: Match
    action: Action
    times: int | None
    used: int = 0

    def matches(self, request: Request) -> bool:
        if callable(self.match):
            return self.match(request)
        method, pattern = self.match
        return (method is None or method == request.method) and bool(
            re.search(pattern, request.path)
        )


class Script:
    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()

    def add(self, match: Match, action: Action, times: int | None) -> Rule:
        rule = Rule(match, action, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, request: Request) -> Action | None:
        """The action of the first live rule matching `request`, consuming one use."""
        with self._lock:
            for rule in self._rules:
                if (rule.times is None or rule.used < rule.times) and rule.matches(request):
                    rule.used += 1
                    return rule.action
        return None


LOGGED_HEADERS = ("authorization", "accept", "content-type", "content-range", "range")


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]  # LOGGED_HEADERS only, lower-cased names
    status: int | None = None  # None while in flight, or when reset before any answer
    delivered: bool = False  # False when the reply was reset or truncated
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None


class RequestLog:
    def __init__(self) -> None:
        self.entries: list[LoggedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def begin(self, request: Request) -> LoggedRequest:
        entry = LoggedRequest(
            request.method,
            request.path,
            request.query,
            {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers},
        )
        with self._lock:
            self.entries.append(entry)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return entry

    def end(self, entry: LoggedRequest) -> None:
        with self._lock:
            entry.ended = time.monotonic()
            self.in_flight -= 1

    def select(
        self, method: str | None = None, path_re: str | None = None, status: int | None = None
    ) -> list[LoggedRequest]:
        with self._lock:
            entries = list(self.entries)
        return [
            e
            for e in entries
            if (method is None or e.method == method)
            and (path_re is None or re.search(path_re, e.path))
            and (status is None or e.status == status)
        ]

    def count(
        self, method: str | None = None, path_re: str | None = None, status: int | None = None
    ) -> int:
        return len(self.select(method, path_re, status))

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.max_in_flight = self.in_flight
