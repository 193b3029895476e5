"""Two revisions of manifestor side by side: `create`, `push LIST` and the one-shot push of
8 sources, each run by both in alternating runs, through the test rig's proxy adding a
latency per request and per new connection. Prints median wall and CPU time per row;
asserts nothing. For a change to start-up or round trips, this shows its effect apart from
the machine's drift between two runs of bench_vs_peers.py.

Usage:  .venv/bin/python benchmarks/bench_revisions.py BASE [OTHER] [--runs 10]
            [--latency-ms 20] [--python VENV/bin/python]

BASE and OTHER are git revisions (OTHER defaults to the working tree; BASE twice measures
the noise). Each one's `manifestor/` package is extracted to a temp directory, compiled,
and put first on PYTHONPATH of `python -c` calling the CLI's main(), so both run on the
same interpreter and dependencies (`--python`, by default this one). Which of the two runs
first alternates from round to round. Needs /usr/bin/docker-registry (scripts/setup.sh)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sidebyside import RUN_CLI, Rig, add_options, need_registry, rig

ROOT = Path(__file__).resolve().parent.parent


def extract(revision: str | None, where: Path, python: str) -> Path:
    """The `manifestor` package of `revision` (None: the working tree), compiled, in the new
    directory `where`."""
    where.mkdir()
    if revision is None:
        shutil.copytree(
            ROOT / "manifestor",
            where / "manifestor",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "manifestor"],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    subprocess.run([python, "-m", "compileall", "-q", str(where)], check=True)
    return where


def check_imports(bench: Rig, python: str, tree: Path) -> None:
    """The runs of `tree` import its package, not the install's (as the timed runs do)."""
    env = {"PYTHONPATH": str(tree)}
    code = "import manifestor; print(manifestor.__file__)"
    found = bench.output([python, "-c", code], env).strip()
    if not found.startswith(str(tree)):
        raise SystemExit(f"bench_revisions: {python} imports manifestor from {found}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="a git revision")
    parser.add_argument("other", nargs="?", help="a git revision (default: the working tree)")
    add_options(parser)
    args = parser.parse_args()
    if not need_registry("bench_revisions"):
        return 1
    names = {"base": f"base {args.base}", "other": f"other {args.other or 'working tree'}"}
    with tempfile.TemporaryDirectory() as scratch, rig(args.latency_ms) as bench:
        trees = {
            "base": extract(args.base, Path(scratch) / "base", args.python),
            "other": extract(args.other, Path(scratch) / "other", args.python),
        }
        for tree in trees.values():
            check_imports(bench, args.python, tree)

        def run(row: str, which: str, argv: list[str]) -> None:
            env = {"PYTHONPATH": str(trees[which])}
            bench.run(f"{row}, {names[which]}", [args.python, "-c", RUN_CLI, *argv], env)

        # A warm-up fills the cache, as on a user's machine after the first release.
        for which in trees:
            run("warm-up", which, ["push", bench.ref(f"warm-{which}"), *bench.sources])
        bench.times.clear()
        for n in range(args.runs):
            for which in ("base", "other") if n % 2 == 0 else ("other", "base"):
                bench.rows(f"{which}-{n}", lambda row, argv, which=which: run(row, which, argv))
    print(
        f"bench_revisions: {names['base']} against {names['other']}, {args.runs} runs per row, "
        f"{args.latency_ms:g} ms per request and connection, {args.python}"
    )
    bench.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
