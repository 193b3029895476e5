"""Start-up time of the `manifestor` command on a normal (non-editable) install.

Usage:  .venv/bin/python benchmarks/bench_startup.py [--runs 21] [--typer 0.16.1 ...]

Builds a temporary virtualenv, installs this checkout into it with `pip install .` (not
`-e`, so imports go through site-packages as for a user), and times, as subprocesses:
`python -c pass` (the interpreter alone), `manifestor --version`, `manifestor --help`,
`manifestor COMMAND --help` for every command, and `manifestor ls` on an empty config
directory (a real command that needs no registry). The runs of all rows alternate, so
drift on the machine hits them alike; each row prints its median and its median minus the
interpreter's. With --typer, each named typer version is installed in turn over the same
venv and measured the same way (to choose the version to pin). It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("create", "annotate", "inspect", "push", "rm", "verify", "login", "logout", "ls")


def _install(venv: Path, typer_version: str | None) -> str:
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    if typer_version is None:
        subprocess.run([*pip, str(ROOT)], check=True)
    else:
        subprocess.run([*pip, f"typer=={typer_version}"], check=True)
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('typer'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _rows(venv: Path, config: Path) -> dict[str, list[str]]:
    python = str(venv / "bin" / "python")
    tool = [str(venv / "bin" / "manifestor")]
    rows = {
        "python -c pass": [python, "-c", "pass"],
        "--version": [*tool, "--version"],
        "--help": [*tool, "--help"],
    }
    rows.update({f"{c} --help": [*tool, c, "--help"] for c in COMMANDS})
    rows["ls (empty store)"] = [*tool, "--config", str(config), "ls"]
    return rows


def _measure(rows: dict[str, list[str]], runs: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    times: dict[str, list[float]] = {name: [] for name in rows}
    for run in range(runs + 1):  # the first round warms the disk cache; not counted
        for name, argv in rows.items():
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, env=env, cwd="/")
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
            if run:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def _report(title: str, medians: dict[str, float]) -> None:
    base = medians["python -c pass"]
    print(f"\n{title}")
    print(f"{'command':<22} {'median ms':>10} {'minus python':>13}")
    for name, value in medians.items():
        extra = "" if name == "python -c pass" else f"{(value - base) * 1000:>13.0f}"
        print(f"{name:<22} {value * 1000:>10.0f} {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="measured runs per row")
    parser.add_argument(
        "--typer", nargs="*", default=[], help="also measure with these typer versions"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="manifestor-startup-") as tmp:
        venv = Path(tmp) / "venv"
        config = Path(tmp) / "config"
        config.mkdir()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        version = _install(venv, None)
        rows = _rows(venv, config)
        _report(f"non-editable install, typer {version} (as pinned)", _measure(rows, args.runs))
        for wanted in args.typer:
            version = _install(venv, wanted)
            _report(f"typer {version}", _measure(rows, args.runs))


if __name__ == "__main__":
    main()
