"""How workflows report as they go, without printing: notes (one line each) and byte
progress of blob copies. The CLI decides where they are shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from manifestor.model.reference import Reference

Notify = Callable[[str], None]


class Progress(Protocol):
    """Where byte counts of blob copies go (a terminal progress display, or nothing)."""

    def start(self, label: str, total: int | None) -> object: ...

    def update(self, task: object, completed: int) -> None: ...

    def finish(self, task: object) -> None: ...


def unchanged_note(target: Reference, digest: str) -> str:
    """The note for a push that wrote nothing: the target already held this list."""
    return f"unchanged: {target} already holds this list ({digest})"
