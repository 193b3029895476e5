"""Progress of blob copies on a terminal (rich bars on stderr), and nothing in CI logs
or when stderr is not a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from manifestor.ops.events import Progress


class _RichProgress:
    """Adapts rich.progress.Progress to the publish.Progress protocol."""

    def __init__(self, bars: object) -> None:
        self._bars = bars

    def start(self, label: str, total: int | None) -> object:
        return self._bars.add_task(label, total=total)  # type: ignore[attr-defined]

    def update(self, task: object, completed: int) -> None:
        self._bars.update(task, completed=completed)  # type: ignore[attr-defined]

    def finish(self, task: object) -> None:
        self._bars.remove_task(task)  # type: ignore[attr-defined]


def wants_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def terminal_progress(enabled: bool) -> Iterator[Progress | None]:
    """Bars on stderr while the block runs, or None when they are not wanted."""
    if not enabled:
        yield None
        return
    from rich.console import Console  # imported only when a terminal shows bars
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TransferSpeedColumn,
    )
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

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        _Bytes(),
        _Speed(),
    )
    with Bars(*columns, console=Console(stderr=True), transient=True) as bars:
        yield _RichProgress(bars)
