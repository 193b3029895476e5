"""cli/output.py writes every line whole, whatever the threads: lines from concurrent
blob copies ("Pushed ref ...") must never merge. The stream used here makes each write
wait for another thread's write, so any writer that splits a line into two writes (as
print() does: the text, then the newline) is interleaved every time, not by luck."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest

from manifestor.cli import output

THREADS = 16


class InterleavingStream:
    """A text stream whose every write waits (briefly) until another write has happened."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._changed = threading.Condition()

    def write(self, text: str) -> int:
        with self._changed:
            self.parts.append(text)
            seen = len(self.parts)
            self._changed.notify_all()
            self._changed.wait_for(lambda: len(self.parts) > seen, timeout=0.02)
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _from_threads(write: Callable[[str], None]) -> None:
    start = threading.Barrier(THREADS)

    def run(n: int) -> None:
        start.wait()
        write(f"Pushed ref reg.example.com/app@sha256:{n:064x} with digest: sha256:{n:064x}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _assert_whole_lines(text: str) -> None:
    lines = text.splitlines()
    assert len(lines) == THREADS, lines
    expected = {
        f"Pushed ref reg.example.com/app@sha256:{n:064x} with digest: sha256:{n:064x}"
        for n in range(THREADS)
    }
    assert set(lines) == expected


def test_the_stream_catches_a_writer_that_splits_lines():
    # The check below can fail: print() from threads merges lines on this stream.
    stream = InterleavingStream()
    _from_threads(lambda line: print(line, file=stream))
    with pytest.raises(AssertionError):
        _assert_whole_lines(stream.text)


@pytest.mark.parametrize(
    ("writer", "stream_name"),
    [(output.note, "stderr"), (output.result, "stdout"), (output.error, "stderr")],
)
def test_concurrent_lines_are_written_whole(monkeypatch, writer, stream_name):
    stream = InterleavingStream()
    monkeypatch.setattr(sys, stream_name, stream)
    _from_threads(writer)
    text = stream.text
    if writer is output.error:
        text = text.replace(output.ERROR_PREFIX, "")
    _assert_whole_lines(text)


def test_quiet_notes_print_nothing(monkeypatch):
    stream = InterleavingStream()
    monkeypatch.setattr(sys, "stderr", stream)
    output.notes(True)("a note")
    output.notes(False)("shown")
    assert stream.text == "shown\n"
