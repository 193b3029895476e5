"""A request body that can be produced again for every attempt and redirect: bytes, or a
stream opened anew each time (a blob read from disk or from another registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class BodySource:
    """A request body that can be produced again for every attempt and redirect."""

    open: Callable[[], bytes | IO[bytes] | Iterable[bytes]]
    size: int | None = None

    @classmethod
    def of_bytes(cls, data: bytes) -> BodySource:
        return cls(lambda: data, len(data))
