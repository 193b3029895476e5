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

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Bars(*columns, console=Console(stderr=True), transient=True) as bars:
        yield _RichProgress(bars)
