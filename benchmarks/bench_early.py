"""Early connections on and off, side by side: `create`, `push LIST` and the one-shot push of
8 sources, each run with remote/early.py's connections and with them switched off, in
alternating runs, through the test rig's proxy adding a latency per request and per new
connection. Prints median wall and CPU time per row; asserts nothing.

Usage:  .venv/bin/python benchmarks/bench_early.py [--runs 10] [--latency-ms 20]
                                                    [--python VENV/bin/python]

manifestor runs as `python -c` calling the CLI's main(), so both rows pay the same
start-up; the "off" row replaces connect_early with a no-op before the command runs. Which
of the two runs first alternates from round to round.
`--python` is the interpreter of the install to measure (default: this one; the editable
.venv recompiles the package on every run here, as PYTHONDONTWRITEBYTECODE is set, so a
normal install, e.g. the venv bench_vs_peers.py --venv keeps, gives steadier figures).
Needs /usr/bin/docker-registry (scripts/setup.sh)."""

from __future__ import annotations

import argparse
import sys

from sidebyside import RUN_CLI, add_options, need_registry, rig

EARLY_OFF = "import manifestor.remote.early as e; e.connect_early = lambda hosts: None; "


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(parser)
    args = parser.parse_args()
    if not need_registry("bench_early"):
        return 1
    with rig(args.latency_ms) as bench:

        def run(row: str, early: bool, argv: list[str]) -> None:
            code = ("" if early else EARLY_OFF) + RUN_CLI
            label = f"{row}, early connections {'on' if early else 'off'}"
            bench.run(label, [args.python, "-c", code, *argv])

        # A warm-up fills the cache, as on a user's machine after the first release.
        run("warm-up", True, ["push", bench.ref("warm"), *bench.sources])
        bench.times.clear()
        for n in range(args.runs):
            for early in (True, False) if n % 2 == 0 else (False, True):
                bench.rows(
                    f"{'on' if early else 'off'}-{n}",
                    lambda row, argv, early=early: run(row, early, argv),
                )
    latency = f"{args.latency_ms:g} ms per request and connection"
    print(f"bench_early: {args.runs} runs per row, {latency}")
    bench.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
