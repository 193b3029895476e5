"""Early connections on and off, side by side: `create`, `push LIST` and the one-shot push of
8 sources, each run with remote/early.py's connections and with them switched off, in
alternating runs, through the test rig's proxy adding a latency per request and per new
connection. Prints median wall and CPU time per row; asserts nothing.

Usage:  .venv/bin/python benchmarks/bench_early.py [--runs 10] [--latency-ms 20]
                                                    [--python VENV/bin/python]

manifestor runs as `python -c` calling the CLI's main(), so both rows pay the same
start-up; the "off" row replaces connect_early with a no-op before the command runs.
`--python` is the interpreter of the install to measure (default: this one; the editable
.venv recompiles the package on every run here, as PYTHONDONTWRITEBYTECODE is set, so a
normal install, e.g. the venv bench_vs_peers.py --venv keeps, gives steadier figures).
Needs /usr/bin/docker-registry (scripts/setup.sh)."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rig.faultproxy import FaultProxy  # noqa: E402
from rig.images import RigClient, make_image  # noqa: E402
from rig.registry import RegistryProcess  # noqa: E402

PLATFORMS = [
    ("386", None),
    ("amd64", None),
    ("arm64", "v8"),
    ("arm", "v6"),
    ("arm", "v7"),
    ("ppc64le", None),
    ("riscv64", None),
    ("s390x", None),
]
RUN_CLI = (
    "import sys; sys.argv = ['manifestor', *sys.argv[1:]]; "
    "from manifestor.cli.app import main; main()"
)
EARLY_OFF = "import manifestor.remote.early as e; e.connect_early = lambda hosts: None; "


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each row (default 10)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="proxy latency (20)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run it with")
    args = parser.parse_args()
    if not Path("/usr/bin/docker-registry").exists():
        print("bench_early: needs /usr/bin/docker-registry (scripts/setup.sh)", file=sys.stderr)
        return 1
    times: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as work, RegistryProcess("plain", workdir=Path(work)) as reg:
        with RigClient(reg) as client:
            for arch, variant in PLATFORMS:
                image = make_image("linux", arch, variant=variant)
                client.push_image("bench/app", f"1.0-{arch}{variant or ''}", image)
        with FaultProxy(reg.url, latency=args.latency_ms / 1000) as proxy:
            sources = [f"{proxy.host}/bench/app:1.0-{a}{v or ''}" for a, v in PLATFORMS]
            env = dict(os.environ, MANIFESTOR_CACHE_DIR=f"{work}/cache", DOCKER_CONFIG=work)

            def run(row: str, early: bool, argv: list[str]) -> None:
                code = ("" if early else EARLY_OFF) + RUN_CLI
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run(
                    [args.python, "-c", code, *argv],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=True,
                )
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                times.setdefault(f"{row}, early connections {'on' if early else 'off'}", []).append(
                    (wall, cpu)
                )

            # A warm-up fills the cache, as on a user's machine after the first release.
            run("warm-up", True, ["push", f"{proxy.host}/bench/app:warm", *sources])
            for n in range(args.runs):
                for early in (True, False):
                    name = f"{proxy.host}/bench/app:{'on' if early else 'off'}-{n}"
                    run("one-shot push", early, ["push", f"{name}-o", *sources])
                    run("create", early, ["create", f"{name}-c", *sources])
                    run("push LIST", early, ["push", f"{name}-c"])
    latency = f"{args.latency_ms:g} ms per request and connection"
    print(f"bench_early: {args.runs} runs per row, {latency}")
    for row, samples in sorted(times.items()):
        if row.startswith("warm-up"):
            continue
        wall = statistics.median(s[0] for s in samples) * 1000
        cpu = statistics.median(s[1] for s in samples) * 1000
        print(f"  {row:40} wall {wall:6.1f} ms   cpu {cpu:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
