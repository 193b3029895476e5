"""One scheduler per run: the only owner of concurrency, as ggcr's errgroup with SetLimit.

- `gate(host)` admits at most `per_host` requests in flight to one registry host, however
  deeply the work that makes them is nested. A thread that already holds a slot for a host
  (an upload whose body streams from another repository of the same registry) makes its
  nested request within that slot, so nesting can never deadlock the gate.
- `map(func, items)` runs items on the run's worker threads. The calling thread works on
  its own batch while it waits, so a nested map never waits for a thread that is not free.
- The first failure in a batch cancels the batch: items not started are dropped, items in
  flight stop at their next check (before each request, between the chunks of a body),
  and the caller gets that error at once. `cancel()` (Ctrl-C) does the same for the run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

from manifestor.errors import CancelledError

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 8
PER_HOST = 4
_POLL = 0.05  # seconds between cancellation checks while blocked


class CancelToken:
    """Cancelled when it, or any token it descends from, is cancelled."""

    def __init__(self, parent: CancelToken | None = None) -> None:
        self._parent = parent
        self._event = threading.Event()
        self.reason: str = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        token: CancelToken | None = self
        while token is not None:
            if token._event.is_set():
                return True
            token = token._parent
        return False

    def check(self) -> None:
        token: CancelToken | None = self
        while token is not None:
            if token._event.is_set():
                raise CancelledError(token.reason)
            token = token._parent


class _Once:
    """The result of a piece of work done once per run."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


class _Batch(Generic[T, R]):
    """The items of one `map` call, taken by whichever thread is free first."""

    def __init__(self, func: Callable[[T], R], items: Sequence[T], token: CancelToken) -> None:
        self.func = func
        self.items = items
        self.token = token
        self.results: list[R | None] = [None] * len(items)
        self.next_index = 0
        self.running = 0
        self.done = 0
        self.error: BaseException | None = None
        self.lock = threading.Condition()

    def take(self) -> int | None:
        with self.lock:
            if self.error is not None or self.next_index >= len(self.items):
                return None
            index = self.next_index
            self.next_index += 1
            self.running += 1
            return index

    def finish(self, index: int, result: R | None, error: BaseException | None) -> None:
        with self.lock:
            self.running -= 1
            self.done += 1
            if error is not None and self.error is None:
                self.error = error
                self.token.cancel("cancelled after another task failed")
            elif error is None:
                self.results[index] = result
            self.lock.notify_all()

    @property
    def settled(self) -> bool:
        return self.error is not None or self.done == len(self.items)


class Jobs:
    """The scheduler of one run (one RegistryClient)."""

    def __init__(self, *, per_host: int = PER_HOST, workers: int = WORKERS) -> None:
        self.per_host = per_host
        self.root = CancelToken()
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._gates: dict[str, threading.Semaphore] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._once: dict[Hashable, _Once] = {}
        self._active = 0  # items running on worker threads
        self._idle = threading.Condition(self._lock)

    # -- cancellation -------------------------------------------------------------------

    @property
    def token(self) -> CancelToken:
        """The token of the work this thread is doing (the run's, outside any batch)."""
        token: CancelToken | None = getattr(self._local, "token", None)
        return token or self.root

    def check(self) -> None:
        """Raise CancelledError if the work this thread is doing was cancelled."""
        self.token.check()

    def cancel(self, reason: str = "interrupted") -> None:
        """Stop the whole run: nothing new starts, work in flight stops at its next check."""
        self.root.cancel(reason)

    # -- the per-host gate --------------------------------------------------------------

    @contextmanager
    def gate(self, host: str) -> Iterator[None]:
        held: set[str] = self._held()
        if host in held or getattr(self._local, "shield", False):
            yield  # nested request of a unit that already has this host's slot
            return
        with self._lock:
            semaphore = self._gates.setdefault(host, threading.Semaphore(self.per_host))
        token = self.token
        while not semaphore.acquire(timeout=_POLL):
            token.check()
        held.add(host)
        try:
            token.check()
            yield
        finally:
            held.discard(host)
            semaphore.release()

    def _held(self) -> set[str]:
        held: set[str] | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = set()
        return held

    # -- running work -------------------------------------------------------------------

    def once(self, key: Hashable, func: Callable[[], R]) -> R:
        """`func()` the first time `key` is asked for in this run; every later (or
        concurrent) ask gets the same result, or the same error. Work that was cancelled
        (another task of its batch failed) is not remembered: the next ask does it again."""
        while True:
            with self._lock:
                entry = self._once.get(key)
                first = entry is None
                if entry is None:
                    entry = self._once[key] = _Once()
            if first:
                try:
                    entry.value = func()
                except BaseException as error:
                    entry.error = error
                    if isinstance(error, CancelledError):
                        with self._lock:
                            self._once.pop(key, None)
                    raise
                finally:
                    entry.done.set()
                return entry.value
            token = self.token
            while not entry.done.wait(_POLL):
                token.check()
            if isinstance(entry.error, CancelledError):
                token.check()
                continue  # its worker was stopped, not this one: do the work here
            if entry.error is not None:
                raise entry.error
            return entry.value  # type: ignore[return-value]

    def map(self, func: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`[func(item) for item in items]`, concurrently; the first error cancels the
        rest and is raised at once."""
        parent = self.token
        parent.check()
        # The main thread only waits: Ctrl-C lands there, and must not break off a
        # request half-way (a worker stops its request cleanly when told to).
        waits_only = threading.current_thread() is threading.main_thread()
        if len(items) <= 1 and not waits_only:
            return [func(item) for item in items]
        if not items:
            return []
        batch: _Batch[T, R] = _Batch(func, items, CancelToken(parent))
        self._start_threads()
        helpers = len(items) if waits_only else len(items) - 1
        for _ in range(min(helpers, self._workers)):
            self._queue.put(lambda: self._work_on(batch, worker=True))
        try:
            if not waits_only:
                self._work_on(batch)
            with batch.lock:
                while not batch.settled:
                    batch.lock.wait(_POLL)
                    if parent.cancelled and batch.error is None:
                        batch.token.cancel(parent.reason)
        except BaseException:  # Ctrl-C while waiting: the batch stops too
            batch.token.cancel("interrupted")
            raise
        if batch.error is not None:
            raise batch.error
        return [result for result in batch.results]  # type: ignore[misc]

    def _work_on(self, batch: _Batch[T, R], *, worker: bool = False) -> None:
        previous = getattr(self._local, "token", None)
        self._local.token = batch.token
        try:
            while (index := batch.take()) is not None:
                if worker:
                    with self._lock:
                        self._active += 1
                try:
                    batch.token.check()
                    result = batch.func(batch.items[index])
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    batch.finish(index, None, error)
                else:
                    batch.finish(index, result, None)
                finally:
                    if worker:
                        with self._lock:
                            self._active -= 1
                            self._idle.notify_all()
        finally:
            self._local.token = previous

    def _start_threads(self) -> None:
        with self._lock:
            if self._threads:
                return
            for n in range(self._workers):
                thread = threading.Thread(target=self._serve, name=f"manifestor-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _serve(self) -> None:
        while (task := self._queue.get()) is not None:
            task()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no item runs on a worker thread (after a cancel, until each has
        stopped and cleaned up, e.g. deleted its upload session); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Clean-up after a cancel (deleting an upload session) runs despite it, and takes
        no slot: the work it cleans up after held one until a moment ago."""
        previous = getattr(self._local, "token", None), getattr(self._local, "shield", False)
        self._local.token, self._local.shield = CancelToken(), True
        try:
            yield
        finally:
            self._local.token, self._local.shield = previous

    def close(self) -> None:
        """Let the worker threads end (they are daemons: an exit never waits for them)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
