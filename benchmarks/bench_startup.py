"""Start-up time of the `manifestor` command on a normal (non-editable) install.

Usage:  .venv/bin/python benchmarks/bench_startup.py [--runs 21] [--typer 0.25.1 0.29.2]

Builds a temporary virtualenv, installs this checkout into it with `pip install .` (not
`-e`, so imports go through site-packages as for a user), and times, as subprocesses:
`python -c pass` (the interpreter alone), `manifestor --version`, `manifestor --help`,
`manifestor COMMAND --help` for every command, and `manifestor ls` on an empty config
directory (a real command that needs no registry). Each row prints its median wall time
and median CPU time (user + system, the steadier figure on a busy machine), each also
minus the interpreter's.

With --typer, one venv per named typer version is built (the project installed, then that
typer over it) and every row is measured in each; the runs of all rows in all venvs
alternate, so drift on a shared machine hits them alike. That is how the pinned version
was chosen. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("create", "annotate", "inspect", "push", "rm", "verify", "login", "logout", "ls")


def _venv(where: Path, typer_version: str | None) -> tuple[Path, str]:
    """A venv with this checkout installed (and the given typer over it)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, stderr=subprocess.DEVNULL)
    if typer_version is not None:
        subprocess.run([*pip, f"typer=={typer_version}"], check=True, stderr=subprocess.DEVNULL)
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('typer'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return where, done.stdout.strip()


ROW_NAMES = (
    "python -c pass",
    "--version",
    "--help",
    *(f"{c} --help" for c in COMMANDS),
    "ls (empty store)",
)


def _rows(venv: Path, config: Path) -> dict[str, list[str]]:
    tool = [str(venv / "bin" / "manifestor")]
    rows = {
        "python -c pass": [str(venv / "bin" / "python"), "-c", "pass"],
        "--version": [*tool, "--version"],
        "--help": [*tool, "--help"],
    }
    rows.update({f"{c} --help": [*tool, c, "--help"] for c in COMMANDS})
    rows["ls (empty store)"] = [*tool, "--config", str(config), "ls"]
    return rows


Medians = dict[tuple[str, str], float]


def _measure(rows: dict[tuple[str, str], list[str]], runs: int) -> tuple[Medians, Medians]:
    """Median wall time and median CPU time (user + system) of each row. On a shared
    machine the CPU time is the steadier figure: waiting for a core is not counted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    wall: dict[tuple[str, str], list[float]] = {key: [] for key in rows}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in rows}
    for run in range(runs + 1):  # the first round warms the disk cache; not counted
        for key, argv in rows.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, env=env, cwd="/")
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
            if run:
                wall[key].append(elapsed)
                cpu[key].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return (
        {key: statistics.median(values) for key, values in wall.items()},
        {key: statistics.median(values) for key, values in cpu.items()},
    )


def _table(title: str, versions: list[str], medians: Medians) -> None:
    print(f"\n{title}, ms (minus `python -c pass`), non-editable install, by typer version")
    print(f"{'command':<20}" + "".join(f"{'typer ' + v:>22}" for v in versions))
    for name in ROW_NAMES:
        cells = []
        for version in versions:
            value, base = medians[(version, name)], medians[(version, "python -c pass")]
            extra = "" if name == "python -c pass" else f" ({(value - base) * 1000:+.0f})"
            cells.append(f"{value * 1000:.0f}{extra}")
        print(f"{name:<20}" + "".join(f"{c:>22}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="measured runs per row")
    parser.add_argument("--typer", nargs="*", default=[], help="typer versions to compare")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}, "
        f"{args.runs} runs per row",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="manifestor-startup-") as tmp:
        config = Path(tmp) / "config"
        config.mkdir()
        wanted: list[str | None] = list(args.typer) or [None]
        venvs = [_venv(Path(tmp) / f"venv{i}", v) for i, v in enumerate(wanted)]
        rows = {
            (version, name): argv
            for venv, version in venvs
            for name, argv in _rows(venv, config).items()
        }
        wall, cpu = _measure(rows, args.runs)
    versions = [version for _, version in venvs]
    _table("median wall time", versions, wall)
    _table("median CPU time", versions, cpu)


if __name__ == "__main__":
    main()
