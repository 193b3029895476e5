"""Start-up stays cheap: `--version`, `--help` and every command's `--help` import none
of the heavy modules (the wire, YAML, archives, rich, pydantic), and a command's module is
imported only when that command is used. Timings live in benchmarks/bench_startup.py;
this pins what is imported, which is what the timings depend on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from manifestor.cli.app import COMMANDS

HEAVY = ("requests", "urllib3", "yaml", "tarfile", "rich", "pydantic", "tenacity")

PROBE = """
import json, sys
sys.argv = ["manifestor", *json.loads(sys.argv[1])]
from manifestor.cli.app import run
try:
    sys.exit(run())
except SystemExit:
    pass
sys.stderr.write(json.dumps(sorted(sys.modules)))
"""

# Each check starts a fresh interpreter: what a new process imports (pyproject.toml).
pytestmark = pytest.mark.integration


def _imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    return set(json.loads(done.stderr))


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], *([name, "--help"] for name in COMMANDS)]
)
def test_start_up_imports_nothing_heavy(args):
    imported = _imported(*args)
    assert not [m for m in HEAVY if m in imported], args


def test_only_the_command_used_is_imported():
    imported = _imported("ls", "--help")
    modules = {f"manifestor.cli.{module}" for module, _ in COMMANDS.values()}
    assert modules & imported == {"manifestor.cli.ls"}
