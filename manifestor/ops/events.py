"""How workflows report as they go, without printing: notes (one line each) and byte
progress of blob copies. The CLI decides where they are shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Notify = Callable[[str], None]


class Progress(Protocol):
    """Where byte counts of blob copies go (a terminal progress display, or nothing)."""

    def start(self, label: str, total: int | None) -> object: ...

    def update(self, task: object, completed: int) -> None: ...

    def finish(self, task: object) -> None: ...
