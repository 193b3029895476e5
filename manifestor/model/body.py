"""A request body that can be produced again for every attempt and redirect: bytes, or a
stream opened anew each time (a blob read from disk or from another registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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

    def chunks(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Open the body anew and yield it in chunks, whatever `open` gives."""
        opened = self.open()
        if isinstance(opened, bytes):
            yield opened
        elif isinstance(opened, Iterable):
            yield from opened
        else:
            with opened:
                while chunk := opened.read(chunk_size):
                    yield chunk
