"""How a command leaves: without the interpreter's teardown when that is safe (see
cli/app.py `_leave`), with every line written and the right exit code either way.

The processes here run without coverage (coverage needs the teardown, so with it the
slow way is always taken, which is what the rest of the CLI tests see). An exit hook that
prints is the witness: it runs only when the interpreter tears itself down."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import atexit, sys, threading
atexit.register(lambda: print("teardown ran", file=sys.stderr, flush=True))
if sys.argv[1] == "with-thread":
    # Work still going on in a thread the run started and did not finish.
    threading.Thread(target=lambda: threading.Event().wait(0.3)).start()
sys.argv = ["manifestor", *sys.argv[2:]]
from manifestor.cli.app import main
main()
"""


def _manifestor(mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    return subprocess.run(
        [sys.executable, "-c", PROBE, mode, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd="/",
    )


def test_a_finished_run_skips_the_teardown_and_writes_every_line():
    done = _manifestor("plain", "--help")
    assert done.returncode == 0
    assert "teardown ran" not in done.stderr
    # The whole help text arrived through the pipe, to its last command.
    assert "Usage: manifestor" in done.stdout
    assert "build" in done.stdout  # the last command it lists


def test_an_error_keeps_its_code_and_its_line_on_the_fast_way_out():
    done = _manifestor("plain", "inspect", "NOT A REFERENCE")
    assert done.returncode == 2
    assert done.stderr.startswith("manifestor: error: ")
    assert done.stderr.count("\n") == 1
    assert "teardown ran" not in done.stderr


def test_a_thread_still_working_gets_the_normal_exit():
    done = _manifestor("with-thread", "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("manifestor ")
    assert "teardown ran" in done.stderr
