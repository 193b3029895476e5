"""Everything the command line prints goes through here, and each kind of line has one
stream in every mode: results (digests, JSON, inspect output, tables, reports, docker's
one-line confirmations) on stdout; notes, `Pushed ref ...` lines, plan steps, progress
bars and errors on stderr.

Every write is one whole line (or one whole block) under one lock, so lines from
concurrent copies never merge. The stream is looked up at call time: while progress
bars are live, rich redirects it and the line lands above the bars."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO, cast

if TYPE_CHECKING:
    from rich.progress import Progress as Bars
    from rich.progress import TaskID

    from manifestor.ops.events import Progress

ERROR_PREFIX = "manifestor: error: "

_lock = threading.Lock()


def _write(stream: TextIO, text: str) -> None:
    with _lock:
        stream.write(text)
        stream.flush()


def result(text: str) -> None:
    """A result on stdout: one line, or a block (rendered JSON, a table) written whole."""
    _write(sys.stdout, text if text.endswith("\n") else text + "\n")


def result_bytes(data: bytes) -> None:
    """Exact bytes on stdout (`inspect --raw`): nothing added, nothing re-encoded."""
    with _lock:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def note(text: str) -> None:
    """A diagnostic or progress line on stderr."""
    _write(sys.stderr, text + "\n")


def silent(text: str) -> None:
    """A `note` or `result` that --quiet throws away."""


def error(message: str) -> None:
    """The one-line error form: `manifestor: error: ...` on stderr, whitespace folded."""
    _write(sys.stderr, ERROR_PREFIX + " ".join(message.split()) + "\n")


def notes(quiet: bool) -> Callable[[str], None]:
    return silent if quiet else note


def wants_progress(quiet: bool) -> bool:
    """Bars only on a terminal, never in CI logs or with --quiet."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


class _RichProgress:
    """Adapts rich.progress.Progress to the ops.events.Progress protocol."""

    def __init__(self, bars: Bars) -> None:
        self._bars = bars

    def start(self, label: str, total: int | None) -> object:
        return self._bars.add_task(label, total=total)

    def update(self, task: object, completed: int) -> None:
        self._bars.update(cast("TaskID", task), completed=completed)

    def finish(self, task: object) -> None:
        self._bars.remove_task(cast("TaskID", task))


@contextmanager
def progress(enabled: bool) -> Iterator[Progress | None]:
    """Byte progress bars on stderr while the block runs, or None when not wanted."""
    if not enabled:
        yield None
        return
    from rich.console import Console  # imported only when a terminal shows bars
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn
    from rich.progress import Progress as Bars
    from rich.text import Text

    class _Bytes(DownloadColumn):
        # A task without a total is a platform being built: its elapsed time, not bytes.
        def render(self, task):  # type: ignore[no-untyped-def]
            if task.total is None:
                return Text(f"{task.elapsed or 0:.0f}s", style="progress.elapsed")
            return super().render(task)

    class _Speed(TransferSpeedColumn):
        def render(self, task):  # type: ignore[no-untyped-def]
            return Text("") if task.total is None else super().render(task)

    columns = (TextColumn("{task.description}"), BarColumn(), _Bytes(), _Speed())
    with Bars(*columns, console=Console(stderr=True), transient=True) as bars:
        yield _RichProgress(bars)
