"""Side-by-side benchmark: `docker manifest create + push` against `manifestor create + push`.

Usage:  .venv/bin/python benchmarks/bench_vs_docker.py [--runs 5] [--latency 0.020]

Starts its own docker-registry (the test rig's RegistryProcess, plain HTTP on loopback),
pushes 8 tiny per-arch images into one repository, and puts the rig's FaultProxy in front
of it, adding --latency seconds to every request and to every new connection (a registry
one ocean away). Each tool then makes and pushes an 8-entry list through the proxy, --runs
times, each run with a fresh DOCKER_CONFIG and a fresh list tag. For each phase it records
the wall time of the subprocess and the requests (by method) and TCP connections the proxy
saw, and prints medians, the manifestor/docker ratio and the targets from the issue.

It installs nothing. Without docker-registry it stops; without the docker CLI it measures
manifestor alone and says so. It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from rig.faultproxy import FaultProxy  # noqa: E402
from rig.images import DOCKER_LIST, OCI_INDEX, RigClient, make_image  # noqa: E402
from rig.registry import REGISTRY_BIN, RegistryProcess  # noqa: E402

REPO = "bench/app"
# (tag suffix, os, arch, variant); the tags sort in this order, which is the order docker
# gives the entries (by store file name), so both tools build the same list.
PLATFORMS = [
    ("386", "linux", "386", None),
    ("amd64", "linux", "amd64", None),
    ("arm64v8", "linux", "arm64", "v8"),
    ("armv6", "linux", "arm", "v6"),
    ("armv7", "linux", "arm", "v7"),
    ("ppc64le", "linux", "ppc64le", None),
    ("riscv64", "linux", "riscv64", None),
    ("s390x", "linux", "s390x", None),
]
N = len(PLATFORMS)
REQUEST_TARGET = 2 * N + 3
TIME_TARGET = 0.3
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class Phase:
    seconds: float
    requests: Counter
    connections: int

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass
class Run:
    create: Phase
    push: Phase
    digest: str
    list_bytes: bytes

    @property
    def seconds(self) -> float:
        return self.create.seconds + self.push.seconds


@dataclass
class Tool:
    name: str
    create: list[str]  # argv prefix; the list name and sources are appended
    push: list[str]  # argv prefix; the list name is appended
    runs: list[Run] = field(default_factory=list)


def clean_environment(config_dir: Path) -> dict[str, str]:
    drop = {name for variable in PROXY_VARIABLES for name in (variable, variable.lower())}
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "DOCKER_AUTH_CONFIG"}
    env["DOCKER_CONFIG"] = str(config_dir)
    return env


def manifestor_argv() -> list[str]:
    script = Path(sys.executable).parent / "manifestor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "manifestor"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"bench: {' '.join(argv)} exited {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return elapsed, result.stdout


def measure(proxy: FaultProxy, argv: list[str], env: dict[str, str]) -> tuple[Phase, str]:
    proxy.reset()
    seconds, out = timed(argv, env)
    time.sleep(0.05)  # let the proxy's handler threads log the last connection (not timed)
    counts = Counter(r.method for r in proxy.requests)
    return Phase(seconds, counts, proxy.connections), out


def one_run(tool: Tool, proxy: FaultProxy, client: RigClient, tag: str, sources: list[str]) -> Run:
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-") as config:
        env = clean_environment(Path(config))
        name = f"{proxy.host}/{REPO}:{tag}"
        create, _ = measure(proxy, [*tool.create, name, *sources], env)
        push, out = measure(proxy, [*tool.push, name], env)
    digest = out.strip().splitlines()[-1]
    served = client.get_manifest(REPO, tag, accept=(DOCKER_LIST, OCI_INDEX))
    if served.status_code != 200 or served.headers.get("Docker-Content-Digest") != digest:
        sys.exit(
            f"bench: {tool.name} printed {digest} but the registry serves {served.status_code}"
        )
    if len(served.json()["manifests"]) != N:
        sys.exit(f"bench: {tool.name}'s list has {len(served.json()['manifests'])} entries")
    return Run(create, push, digest, served.content)


def startup(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- report --


def median(values) -> float:
    return statistics.median(list(values))


def count(values) -> str:
    """The median of a count, with its range when the runs differ."""
    values = list(values)
    mid = statistics.median(values)
    text = f"{mid:g}"
    return text if min(values) == max(values) else f"{text} ({min(values)}-{max(values)})"


def breakdown(phases: list[Phase]) -> str:
    parts = []
    for method in METHODS:
        values = [p.requests.get(method, 0) for p in phases]
        if any(values):
            parts.append(f"{method} {count(values)}")
    return ", ".join(parts) or "none"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    tools: list[Tool], args: argparse.Namespace, versions: dict[str, str], starts: dict[str, float]
) -> None:
    print()
    print(
        f"{N} per-arch sources in one repository ({REPO}); {args.runs} measured run(s) per tool"
        f" after {args.warmup} warm-up run(s); the proxy adds {args.latency * 1000:g} ms to"
        " every request and every new connection"
    )
    for name, version in versions.items():
        print(f"  {name}: {version}")
    if "docker" not in versions:
        print("  docker: not on PATH, so manifestor was measured alone")
    print()
    print(
        f"{'tool':<11} {'create s':>9} {'push s':>8} {'total s':>8}   "
        f"{'requests create/push/total':<27} connections create/push"
    )
    medians: dict[str, tuple[float, float, float]] = {}
    for tool in tools:
        times = (
            median(r.create.seconds for r in tool.runs),
            median(r.push.seconds for r in tool.runs),
            median(r.seconds for r in tool.runs),
        )
        medians[tool.name] = times
        requests = " / ".join(
            [
                count(r.create.total_requests for r in tool.runs),
                count(r.push.total_requests for r in tool.runs),
                count(r.create.total_requests + r.push.total_requests for r in tool.runs),
            ]
        )
        connections = " / ".join(
            [
                count(r.create.connections for r in tool.runs),
                count(r.push.connections for r in tool.runs),
            ]
        )
        print(
            f"{tool.name:<11} {times[0]:>9.3f} {times[1]:>8.3f} {times[2]:>8.3f}   "
            f"{requests:<27} {connections}"
        )
    if "docker" in medians:
        d, m = medians["docker"], medians["manifestor"]
        print(f"{'m/d ratio':<11} {m[0] / d[0]:>8.2f}x {m[1] / d[1]:>7.2f}x {m[2] / d[2]:>7.2f}x")
    print()
    print("requests by method (median per run)")
    for tool in tools:
        print(f"  {tool.name:<11} create: {breakdown([r.create for r in tool.runs])}")
        print(f"  {'':<11} push:   {breakdown([r.push for r in tool.runs])}")
    if len(tools) == 2:
        distinct = len({r.list_bytes for t in tools for r in t.runs})
        print()
        print(
            "pushed lists: byte-identical across tools and runs"
            if distinct == 1
            else f"pushed lists: {distinct} different byte strings across tools and runs"
        )

    ours = tools[-1].runs
    create_requests = median(r.create.total_requests for r in ours)
    total_requests = median(r.create.total_requests + r.push.total_requests for r in ours)
    most = (max(r.create.connections for r in ours), max(r.push.connections for r in ours))
    print()
    print("targets for manifestor (one registry host here)")
    if "docker" in medians:
        ratio = medians["manifestor"][2] / medians["docker"][2]
        create_ratio = medians["manifestor"][0] / medians["docker"][0]
        print(
            f"  total wall time <= {TIME_TARGET}x docker's: {ratio:.2f}x"
            f" {verdict(ratio <= TIME_TARGET)}"
            f" (create alone: {create_ratio:.2f}x {verdict(create_ratio <= TIME_TARGET)})"
        )
    else:
        print(f"  total wall time <= {TIME_TARGET}x docker's: not measured, no docker CLI")
    print(
        f"  requests <= 2N+3 = {REQUEST_TARGET}: create {create_requests:g}"
        f" {verdict(create_requests <= REQUEST_TARGET)}; create+push {total_requests:g}"
        f" {verdict(total_requests <= REQUEST_TARGET)}"
    )
    print(
        f"  one connection per host: create {most[0]}, push {most[1]} (most in any run)"
        f" {verdict(most == (1, 1))}"
    )
    print()
    line = f"interpreter start: `manifestor --version` median {starts['manifestor']:.3f} s"
    if "docker" in starts:
        line += f", `docker --version` {starts['docker']:.3f} s"
    print(line + "; manifestor pays it twice in create + push")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per tool (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default 1)")
    parser.add_argument(
        "--latency", type=float, default=0.020, help="seconds added per request and connection"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    if not Path(REGISTRY_BIN).exists():
        sys.exit(
            f"bench: {REGISTRY_BIN} is missing; install it (apt-get install docker-registry) "
            "or run scripts/setup.sh"
        )
    ours = manifestor_argv()
    tools = [Tool("manifestor", [*ours, "create"], [*ours, "push"])]
    versions = {
        "manifestor": subprocess.run(
            [*ours, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        + f" (python {platform.python_version()})"
    }
    if shutil.which("docker"):
        tools.insert(
            0,
            Tool(
                "docker",
                ["docker", "manifest", "create", "--insecure"],
                ["docker", "manifest", "push"],
            ),
        )
        versions["docker"] = subprocess.run(
            ["docker", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    else:
        print("bench: the docker CLI is not on PATH; measuring manifestor alone", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="bench-registry-") as workdir:
        with (
            RegistryProcess("plain", workdir=Path(workdir)) as registry,
            RigClient(registry) as client,
        ):
            tags = []
            for suffix, os_name, arch, variant in PLATFORMS:
                tag = f"1.0-{suffix}"
                client.push_image(REPO, tag, make_image(os_name, arch, variant=variant))
                tags.append(tag)
            assert tags == sorted(tags)
            with FaultProxy(registry.url, latency=args.latency) as proxy:
                sources = [f"{proxy.host}/{REPO}:{tag}" for tag in tags]
                print(
                    f"registry {registry.url}, proxy {proxy.url} (+{args.latency * 1000:g} ms)",
                    file=sys.stderr,
                )
                for i in range(args.warmup + args.runs):
                    for tool in tools:  # interleaved, so drift hits both tools alike
                        run = one_run(tool, proxy, client, f"{tool.name}-run{i}", sources)
                        if i >= args.warmup:
                            tool.runs.append(run)
                        print(
                            f"  {'warm-up' if i < args.warmup else 'run'} {i} {tool.name:<10}"
                            f" create {run.create.seconds:.3f}s push {run.push.seconds:.3f}s",
                            file=sys.stderr,
                        )
    starts = {"manifestor": startup([*ours, "--version"], max(args.runs, 5))}
    if shutil.which("docker"):
        starts["docker"] = startup(["docker", "--version"], max(args.runs, 5))
    report(tools, args, versions, starts)


if __name__ == "__main__":
    main()
