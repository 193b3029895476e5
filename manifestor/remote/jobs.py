"""Run independent registry calls concurrently: a small thread pool, at most a few
requests in flight per registry host, results in input order, the first error raised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 8
PER_HOST = 4


def map_bounded(
    func: Callable[[T], R],
    items: Sequence[T],
    host_of: Callable[[T], str],
    *,
    per_host: int = PER_HOST,
) -> list[R]:
    """`[func(item) for item in items]`, concurrently, at most `per_host` per host.

    Every call runs to its end (nothing is left half-done in the background); then the
    error of the earliest failing item, in input order, is raised."""
    if len(items) <= 1:
        return [func(item) for item in items]
    gates: dict[str, threading.Semaphore] = {}
    lock = threading.Lock()

    def gated(item: T) -> R:
        host = host_of(item)
        with lock:
            gate = gates.setdefault(host, threading.Semaphore(per_host))
        with gate:
            return func(item)

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items))) as executor:
        futures = [executor.submit(gated, item) for item in items]
    return [future.result() for future in futures]
