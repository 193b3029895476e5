"""Side-by-side benchmark: `docker manifest create + push` against `manifestor create + push`
and against manifestor's one-shot `manifestor push TARGET SOURCE...`.

Usage:  .venv/bin/python benchmarks/bench_vs_docker.py [--runs 5] [--latency 0.020]

Starts its own docker-registry (the test rig's RegistryProcess, plain HTTP on loopback),
pushes 8 tiny per-arch images into one repository, and puts the rig's FaultProxy in front
of it, adding --latency seconds to every request and to every new connection (a registry
one ocean away). Each tool then makes and pushes an 8-entry list through the proxy, --runs
times, each run with a fresh DOCKER_CONFIG and a fresh list tag: docker and manifestor in
two processes (create, then push), manifestor's one-shot form in one (push with the same
sources, in the same order). For each process it records the wall time and the requests
(by method) and TCP connections the proxy saw, and prints medians, each manifestor form's
ratio to docker and the targets from the issue for both forms.

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
ONE_SHOT = "one-shot"  # the row of `manifestor push TARGET SOURCE...`


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
    create: Phase | None  # None for the one-shot form: one process, counted as its push
    push: Phase
    digest: str
    list_bytes: bytes

    @property
    def phases(self) -> list[Phase]:
        return [p for p in (self.create, self.push) if p is not None]

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    @property
    def total_requests(self) -> int:
        return sum(p.total_requests for p in self.phases)


@dataclass
class Tool:
    name: str  # also part of the list tag, so tag-safe
    create: list[str] | None  # argv prefix; the list name and sources are appended
    push: list[str]  # argv prefix; the list name, and without create the sources, appended
    runs: list[Run] = field(default_factory=list)

    @property
    def one_shot(self) -> bool:
        return self.create is None


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
        create = None
        if tool.create is None:
            push, out = measure(proxy, [*tool.push, name, *sources], env)
        else:
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


def progress_line(i: int, warmup: int, tool: Tool, run: Run) -> str:
    create = "" if run.create is None else f" create {run.create.seconds:.3f}s"
    return (
        f"  {'warm-up' if i < warmup else 'run'} {i} {tool.name:<10}{create}"
        f" push {run.push.seconds:.3f}s"
    )


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


def creates(tool: Tool) -> list[Phase]:
    return [r.create for r in tool.runs if r.create is not None]


def pushes(tool: Tool) -> list[Phase]:
    return [r.push for r in tool.runs]


def phase_seconds(tool: Tool) -> tuple[float | None, float, float]:
    """Median create, push and total seconds; no create for the one-shot form."""
    create = median(p.seconds for p in creates(tool)) if not tool.one_shot else None
    return create, median(p.seconds for p in pushes(tool)), median(r.seconds for r in tool.runs)


def cell(value: float | None, width: int, suffix: str = "") -> str:
    text = "-" if value is None else f"{value:.{2 if suffix else 3}f}{suffix}"
    return f"{text:>{width}}"


def table_row(tool: Tool) -> str:
    create, push, total = phase_seconds(tool)
    requests = " / ".join(
        [
            "-" if tool.one_shot else count(p.total_requests for p in creates(tool)),
            count(p.total_requests for p in pushes(tool)),
            count(r.total_requests for r in tool.runs),
        ]
    )
    connections = " / ".join(
        [
            "-" if tool.one_shot else count(p.connections for p in creates(tool)),
            count(p.connections for p in pushes(tool)),
        ]
    )
    return (
        f"{tool.name:<12} {cell(create, 9)} {cell(push, 8)} {cell(total, 8)}   "
        f"{requests:<27} {connections}"
    )


def ratio_row(tool: Tool, docker: Tool) -> str:
    """The tool's medians over docker's; the one-shot form has only a total to compare."""
    ours, theirs = phase_seconds(tool), phase_seconds(docker)
    create = None if ours[0] is None or theirs[0] is None else ours[0] / theirs[0]
    push = None if tool.one_shot else ours[1] / theirs[1]
    return (
        f"{'  to docker':<12} {cell(create, 9, 'x')} {cell(push, 8, 'x')}"
        f" {cell(ours[2] / theirs[2], 8, 'x')}"
    )


def print_table(tools: list[Tool], docker: Tool | None) -> None:
    print(
        f"{'tool':<12} {'create s':>9} {'push s':>8} {'total s':>8}   "
        f"{'requests create/push/total':<27} connections create/push"
    )
    for tool in tools:
        print(table_row(tool))
        if docker is not None and tool is not docker:
            print(ratio_row(tool, docker))


def print_breakdown(tools: list[Tool]) -> None:
    print("requests by method (median per run)")
    for tool in tools:
        if not tool.one_shot:
            print(f"  {tool.name:<12} create: {breakdown(creates(tool))}")
        label = "" if not tool.one_shot else tool.name
        print(f"  {label:<12} push:   {breakdown(pushes(tool))}")


def print_lists(tools: list[Tool]) -> None:
    distinct = len({r.list_bytes for t in tools for r in t.runs})
    print(
        "pushed lists: byte-identical across tools and runs"
        if distinct == 1
        else f"pushed lists: {distinct} different byte strings across tools and runs"
    )


def time_target(tool: Tool, docker: Tool | None) -> str:
    head = f"total wall time <= {TIME_TARGET}x docker's:"
    if docker is None:
        return f"{head} not measured, no docker CLI"
    ours, theirs = phase_seconds(tool), phase_seconds(docker)
    ratio = ours[2] / theirs[2]
    line = f"{head} {ratio:.2f}x {verdict(ratio <= TIME_TARGET)}"
    if ours[0] is not None and theirs[0] is not None:
        create_ratio = ours[0] / theirs[0]
        line += f" (create alone: {create_ratio:.2f}x {verdict(create_ratio <= TIME_TARGET)})"
    return line


def request_target(tool: Tool) -> str:
    head = f"requests <= 2N+3 = {REQUEST_TARGET}:"
    total = median(r.total_requests for r in tool.runs)
    if tool.one_shot:
        return f"{head} {total:g} {verdict(total <= REQUEST_TARGET)}"
    create = median(p.total_requests for p in creates(tool))
    return (
        f"{head} create {create:g} {verdict(create <= REQUEST_TARGET)};"
        f" create+push {total:g} {verdict(total <= REQUEST_TARGET)}"
    )


def connection_target(tool: Tool) -> str:
    push = max(p.connections for p in pushes(tool))
    if tool.one_shot:
        return f"one connection per host: {push} (most in any run) {verdict(push == 1)}"
    create = max(p.connections for p in creates(tool))
    return (
        f"one connection per host: create {create}, push {push} (most in any run)"
        f" {verdict((create, push) == (1, 1))}"
    )


def print_targets(tools: list[Tool], docker: Tool | None) -> None:
    print("targets for manifestor (one registry host here)")
    for tool in tools:
        if tool is docker:
            continue
        form = "one process: push TARGET SOURCE..." if tool.one_shot else "create + push"
        print(f"  {tool.name} ({form})")
        print(f"    {time_target(tool, docker)}")
        print(f"    {request_target(tool)}")
        print(f"    {connection_target(tool)}")


def report(
    tools: list[Tool], args: argparse.Namespace, versions: dict[str, str], starts: dict[str, float]
) -> None:
    docker = next((t for t in tools if t.name == "docker"), None)
    print()
    print(
        f"{N} per-arch sources in one repository ({REPO}); {args.runs} measured run(s) per tool"
        f" after {args.warmup} warm-up run(s); the proxy adds {args.latency * 1000:g} ms to"
        " every request and every new connection"
    )
    for name, version in versions.items():
        print(f"  {name}: {version}")
    if docker is None:
        print("  docker: not on PATH, so manifestor was measured alone")
    print(f"  {ONE_SHOT}: `manifestor push TARGET SOURCE...`, one process, in the push columns")
    print()
    print_table(tools, docker)
    print()
    print_breakdown(tools)
    print()
    print_lists(tools)
    print()
    print_targets(tools, docker)
    print()
    line = f"interpreter start: `manifestor --version` median {starts['manifestor']:.3f} s"
    if "docker" in starts:
        line += f", `docker --version` {starts['docker']:.3f} s"
    print(line + "; manifestor pays it twice in create + push, once in the one-shot push")


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
    tools = [
        Tool("manifestor", [*ours, "create"], [*ours, "push"]),
        Tool(ONE_SHOT, None, [*ours, "push"]),
    ]
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
                    for tool in tools:  # interleaved, so drift hits every tool alike
                        run = one_run(tool, proxy, client, f"{tool.name}-run{i}", sources)
                        if i >= args.warmup:
                            tool.runs.append(run)
                        print(progress_line(i, args.warmup, tool, run), file=sys.stderr)
    starts = {"manifestor": startup([*ours, "--version"], max(args.runs, 5))}
    if shutil.which("docker"):
        starts["docker"] = startup(["docker", "--version"], max(args.runs, 5))
    report(tools, args, versions, starts)


if __name__ == "__main__":
    main()
