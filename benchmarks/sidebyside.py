"""What bench_early.py and bench_revisions.py share: a docker-registry holding 8 tiny
per-arch images behind the test rig's proxy (a latency per request and per new
connection), and a runner that times manifestor processes (wall and CPU) per row and
prints medians. Measures only; asserts nothing."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
# manifestor as `python -c`: the CLI's main() on the arguments that follow.
RUN_CLI = (
    "import sys; sys.argv = ['manifestor', *sys.argv[1:]]; "
    "from manifestor.cli.app import main; main()"
)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options both scripts take."""
    parser.add_argument("--runs", type=int, default=10, help="runs of each row (default 10)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="proxy latency (20)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run it with")


def need_registry(script: str) -> bool:
    if Path("/usr/bin/docker-registry").exists():
        return True
    print(f"{script}: needs /usr/bin/docker-registry (scripts/setup.sh)", file=sys.stderr)
    return False


@dataclass
class Rig:
    """The proxy's host, the 8 sources behind it, and a work directory for the run."""

    host: str
    work: Path
    sources: list[str]
    times: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def ref(self, tag: str) -> str:
        return f"{self.host}/bench/app:{tag}"

    def rows(self, tag: str, run: Callable[[str, list[str]], None]) -> None:
        """One round of the three rows, as `run(row, manifestor arguments)`: the one-shot
        push of the 8 sources, `create` of a list, and `push LIST` of it."""
        run("one-shot push", ["push", self.ref(f"{tag}-o"), *self.sources])
        run("create", ["create", self.ref(f"{tag}-c"), *self.sources])
        run("push LIST", ["push", self.ref(f"{tag}-c")])

    def run(self, row: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        """Run one process to completion (it must succeed) and record its wall and CPU
        time under `row`."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        self.output(argv, env, quiet=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        self.times.setdefault(row, []).append((wall, cpu))

    def output(self, argv: Sequence[str], env: dict[str, str] | None, quiet: bool = False) -> str:
        """Run one process (it must succeed) and return its stdout. It runs in the work
        directory, with the run's cache and config: `python -c` puts its current directory
        first on sys.path, and a checkout's would shadow the package measured."""
        done = subprocess.run(
            list(argv),
            env={
                **os.environ,
                "MANIFESTOR_CACHE_DIR": str(self.work / "cache"),
                "DOCKER_CONFIG": str(self.work / "docker"),
                **(env or {}),
            },
            stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.work,
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout or ""

    def report(self) -> None:
        for row, samples in sorted(self.times.items()):
            wall = statistics.median(s[0] for s in samples) * 1000
            cpu = statistics.median(s[1] for s in samples) * 1000
            print(f"  {row:44} wall {wall:6.1f} ms   cpu {cpu:6.1f} ms")


@contextmanager
def rig(latency_ms: float) -> Iterator[Rig]:
    """A registry with bench/app:1.0-<arch> for the 8 platforms, behind a proxy adding
    `latency_ms` per request and per new connection."""
    with tempfile.TemporaryDirectory() as work, RegistryProcess("plain", workdir=Path(work)) as reg:
        with RigClient(reg) as client:
            for arch, variant in PLATFORMS:
                image = make_image("linux", arch, variant=variant)
                client.push_image("bench/app", f"1.0-{arch}{variant or ''}", image)
        with FaultProxy(reg.url, latency=latency_ms / 1000) as proxy:
            sources = [f"{proxy.host}/bench/app:1.0-{a}{v or ''}" for a, v in PLATFORMS]
            yield Rig(proxy.host, Path(work), sources)
