"""Progress bars on a terminal, without relying on timing: the source registry (the scripted
in-process fake) holds the layer download until the bar for that layer has been drawn on
the pseudo-terminal, so the copy cannot end before a redraw, however fast or loaded the
machine. In CI (`CI=true`) no bar is drawn, and nothing is held."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import threading
from collections.abc import Mapping

import pytest
from clihelpers import Cli
from fakereg import FakeRegistry, call

# The CLI runs as a subprocess (about a second each): kept with the slow tests, out of the
# fast suite, though it needs no docker-registry process.
pytestmark = pytest.mark.integration

HOLD_LIMIT = 30.0  # seconds the layer is held at most waiting for its bar


class Terminal:
    """`manifestor ARGS` with stderr on a pseudo-terminal; `wait_for(text)` blocks until the
    terminal has shown `text` (escapes removed) or the limit passes."""

    def __init__(self) -> None:
        self.text = ""
        self._changed = threading.Condition()

    def run(self, cli: Cli, args: list[str], env: Mapping[str, str]) -> tuple[int, str]:
        leader, follower = pty.openpty()
        reader = threading.Thread(target=self._drain, args=(leader,), daemon=True)
        reader.start()
        try:
            done = subprocess.run(
                cli.command(args),
                stdout=subprocess.PIPE,
                stderr=follower,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                timeout=HOLD_LIMIT + 30,
            )
        finally:
            os.close(follower)
            reader.join(timeout=10)
            os.close(leader)
        return done.returncode, done.stdout.decode()

    def _drain(self, leader: int) -> None:
        received = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the last writer has closed the terminal
                return
            if not chunk:
                return
            received += chunk
            plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", received.decode(errors="replace"))
            with self._changed:
                self.text = plain
                self._changed.notify_all()

    def wait_for(self, text: str) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: text in self.text, timeout=HOLD_LIMIT)


@pytest.mark.parametrize("where", ["terminal", "ci"])
def test_a_copy_shows_its_bar_on_a_terminal_and_none_in_ci(cli, where):
    terminal = Terminal()
    seen: list[bool] = []
    with FakeRegistry() as source, FakeRegistry() as target:
        image = source.seed_image("team/src", "linux/amd64", tag="amd64")
        label = f"{image.layer.digest[7:19]} {source.host}/"
        if where == "terminal":
            # The layer's bar exists from just before its download starts: hold the download
            # until the terminal shows the bar.
            source.script(
                ("GET", rf"/blobs/{image.layer.digest}$"),
                call(lambda _r: seen.append(terminal.wait_for(label))),
            )
        env = {k: v for k, v in cli.env().items() if k != "CI"}
        env["TERM"] = "xterm"
        if where == "ci":
            env["CI"] = "true"
        code, stdout = terminal.run(
            cli,
            ["push", f"{target.host}/team/app:1", f"{source.host}/team/src:amd64"],
            env,
        )
        pushed = target.get_manifest("team/app", "1")

    assert code == 0, terminal.text
    assert pushed is not None and stdout == pushed.digest + "\n"  # bars never on stdout
    if where == "terminal":
        assert seen == [True], f"no bar labelled {label!r} within {HOLD_LIMIT}s: {terminal.text!r}"
    else:
        assert "Pushed ref" in terminal.text and label not in terminal.text, terminal.text
