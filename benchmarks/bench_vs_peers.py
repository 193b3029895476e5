"""Side by side, in one run: docker manifest, podman manifest and manifestor making and pushing
multi-platform lists, plus manifestor's start-up. Prints figures; asserts nothing about time.

Usage:  .venv/bin/python benchmarks/bench_vs_peers.py            # the full run (< 10 min)
        .venv/bin/python benchmarks/bench_vs_peers.py --quick    # a sanity check (< 1 min)
        .venv/bin/python benchmarks/bench_vs_peers.py --startup-only

Starts its own docker-registry (the test rig's RegistryProcess, plain HTTP on loopback),
pushes 8 tiny per-arch images into one repository and puts the rig's FaultProxy in front of
it, which adds a latency to every request and to every new connection and counts requests
(by method), TCP connections and the most requests in flight at once. Every tool only talks
to the proxy. Rows (each tool's runs alternate with the others', medians reported):

  docker create + push, podman create + push (--all=false, and the default --all),
  manifestor create + push (two processes), manifestor's one-shot `push TARGET SOURCE...`
  (with its cache, and with the cache off), the unchanged re-run (the same one-shot push
  again; docker: the same create + push again), and a spec of 10/25/50 releases x 4
  platforms (`manifestor push --spec`; docker: one create + push per release).

Each is measured at 20 ms and at 0 ms added latency. The start-up part times
`manifestor --version`, `--help` and `<command> --help` for every command against
`python -c pass`. manifestor runs from a normal (non-editable) install in a temp venv, as
users get it. The targets of issue 11 are printed next to the figures, computed from the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from rig.faultproxy import FaultProxy  # noqa: E402
from rig.images import DOCKER_LIST, OCI_INDEX, RigClient, make_image  # noqa: E402
from rig.registry import REGISTRY_BIN, RegistryProcess  # noqa: E402

REPO = "bench/app"
# (tag suffix, os, arch, variant). The tags sort in this order, which is the order docker
# gives the entries (its store's file names), so every tool builds the same list.
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
SPEC_PLATFORMS = ("amd64", "arm64v8", "armv7", "ppc64le")  # 4 platforms per spec release
N = len(PLATFORMS)
METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
SETTLE = 0.05  # seconds for the proxy's threads to log a process's last connection (untimed)

# Targets of issue 11 ("Done when", judged at 20 ms).
ONE_SHOT_TIME = 0.3  # x docker create + push
CREATE_PUSH_TIME = 0.5  # x docker create + push
SPEC_TIME = 0.1  # x docker's N x (create + push), at 50 releases
VERSION_MS = 150  # `manifestor --version` and `--help`, median
COMMAND_MS = 200  # `manifestor <command> --help`, median
ONE_SHOT_REQUESTS = 2 * N + 3
CREATE_PUSH_REQUESTS = 2 * N + 5
CONNECTIONS_PER_HOST = 4


# -- what one run records --


@dataclass
class Phase:
    """One or more processes counted together (one proxy reset)."""

    seconds: float
    cpu: float  # user + system time of the processes
    methods: Counter
    connections: int
    peak: int  # most requests in flight at once
    kinds: Counter  # "GET manifest", "HEAD blob", "GET /v2/"...: what the requests were for

    @property
    def requests(self) -> int:
        return sum(self.methods.values())


@dataclass
class Sample:
    phases: list[Phase]
    said_unchanged: bool = False
    lists: list[bytes] = field(default_factory=list)  # the lists as the registry serves them

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    @property
    def cpu(self) -> float:
        return sum(p.cpu for p in self.phases)

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.phases)

    @property
    def connections(self) -> int:
        return sum(p.connections for p in self.phases)

    @property
    def methods(self) -> Counter:
        total: Counter = Counter()
        for p in self.phases:
            total.update(p.methods)
        return total

    @property
    def kinds(self) -> Counter:
        total: Counter = Counter()
        for p in self.phases:
            total.update(p.kinds)
        return total


@dataclass
class Row:
    key: str
    title: str
    baseline: str | None  # the docker row its time is compared with
    samples: list[Sample] = field(default_factory=list)


class BenchError(Exception):
    """A tool failed or published something wrong: the run stops with the message."""


# -- processes and the proxy --


def clean_environment(**extra: str) -> dict[str, str]:
    drop = {name for variable in PROXY_VARIABLES for name in (variable, variable.lower())}
    drop |= {"DOCKER_AUTH_CONFIG", "MANIFESTOR_CACHE_DIR", "REGISTRY_AUTH_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


@dataclass
class Clock:
    """Wall and CPU (user + system) seconds of the processes run through it."""

    seconds: float = 0.0
    cpu: float = 0.0

    def run(self, argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=600)
        self.seconds += time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if result.returncode != 0:
            raise BenchError(
                f"{' '.join(argv)} exited {result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result

    def phase(self, proxy: FaultProxy) -> Phase:
        """This clock's times and the proxy's counts since its last reset()."""
        time.sleep(SETTLE)  # untimed: the proxy's threads log the last connection
        methods = Counter(r.method for r in proxy.requests)
        kinds = Counter(f"{r.method} {request_kind(r.path)}" for r in proxy.requests)
        return Phase(
            self.seconds, self.cpu, methods, proxy.connections, proxy.peak_in_flight, kinds
        )


def request_kind(path: str) -> str:
    """What a registry request is for, from its path."""
    if path.rstrip("/") == "/v2":
        return "/v2/"
    for part, kind in (
        ("/manifests/", "manifest"),
        ("/blobs/uploads", "upload"),
        ("/blobs/", "blob"),
    ):
        if part in path:
            return kind
    return "other"


def measure(
    proxy: FaultProxy, argv: Sequence[str], env: dict[str, str]
) -> tuple[Phase, subprocess.CompletedProcess[str]]:
    """Run one process: its times and the requests and connections the proxy saw."""
    proxy.reset()
    clock = Clock()
    result = clock.run(argv, env)
    return clock.phase(proxy), result


def last_digest(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1].split()[0] if lines else ""


# -- the runs --


@dataclass
class Bench:
    proxy: FaultProxy
    client: RigClient
    manifestor: list[str]
    work: Path  # state kept across the whole run: caches, config directories, podman storage
    sources: list[str]
    spec_sources: list[str]

    def ref(self, tag: str) -> str:
        return f"{self.proxy.host}/{REPO}:{tag}"

    def state(self, name: str) -> Path:
        """A directory kept for the whole series `name` (a cache, a podman storage)."""
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fresh(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.work))

    def served(self, tag: str, digest: str | None, entries: int) -> bytes:
        """The list under `tag` as the registry serves it (not through the proxy), checked."""
        reply = self.client.get_manifest(REPO, tag, accept=(DOCKER_LIST, OCI_INDEX))
        if reply.status_code != 200:
            raise BenchError(f"{tag}: the registry answers {reply.status_code}")
        served = reply.headers.get("Docker-Content-Digest")
        if digest is not None and served != digest:
            raise BenchError(f"{tag}: the tool printed {digest!r}, the registry serves {served}")
        count = len(reply.json().get("manifests", []))
        if count != entries:
            raise BenchError(f"{tag}: the list has {count} entries, not {entries}")
        return reply.content

    # docker: a fresh DOCKER_CONFIG per run; its manifest store keeps nothing a run could reuse.
    def docker_create_push(self, tag: str) -> Sample:
        env = clean_environment(DOCKER_CONFIG=str(self.fresh("docker-config")))
        target = self.ref(tag)
        create_argv = ["docker", "manifest", "create", "--insecure", target, *self.sources]
        create, _ = measure(self.proxy, create_argv, env)
        push, pushed = measure(self.proxy, ["docker", "manifest", "push", target], env)
        return Sample([create, push], lists=[self.served(tag, last_digest(pushed.stdout), N)])

    def docker_releases(self, label: str, sizes: list[int]) -> dict[int, Sample]:
        """One create + push per release, one after another, up to the largest size; the
        figures for each smaller size are those of its first releases (the same work)."""
        env = clean_environment(DOCKER_CONFIG=str(self.fresh("docker-config")))
        self.proxy.reset()
        clock = Clock()
        samples: dict[int, Sample] = {}
        lists = []
        for i in range(max(sizes)):
            tag = f"docker-spec-{label}-{i}"
            target = self.ref(tag)
            create = ["docker", "manifest", "create", "--insecure", target, *self.spec_sources]
            clock.run(create, env)
            pushed = clock.run(["docker", "manifest", "push", target], env)
            lists.append(self.served(tag, last_digest(pushed.stdout), len(self.spec_sources)))
            if i + 1 in sizes:
                samples[i + 1] = Sample([clock.phase(self.proxy)], lists=list(lists))
        return samples

    # podman: one --root/--runroot per series (a user's storage), plain HTTP allowed for the
    # proxy through a registries.conf (podman 4.3's `manifest create --tls-verify=false` does
    # not reach the images given to create), and --tls-verify=false on every command.
    def podman_create_push(self, tag: str, push_all: bool) -> Sample:
        storage = self.state("podman-all" if push_all else "podman-one")
        conf = storage / "registries.conf"  # names this latency's proxy
        conf.write_text(f'[[registry]]\nlocation = "{self.proxy.host}"\ninsecure = true\n')
        env = clean_environment(CONTAINERS_REGISTRIES_CONF=str(conf))
        root, run = str(storage / "root"), str(storage / "run")
        podman = ["podman", "--root", root, "--runroot", run, "--storage-driver", "vfs", "manifest"]
        local = f"localhost/bench-list:{tag}"
        sources = [f"docker://{s}" for s in self.sources]
        create_argv = [*podman, "create", "--tls-verify=false", local, *sources]
        create, _ = measure(self.proxy, create_argv, env)
        digest_file = storage / f"{tag}.digest"
        push = [*podman, "push", "--tls-verify=false", "--quiet", "--digestfile", str(digest_file)]
        if not push_all:
            push.append("--all=false")
        pushed, _ = measure(self.proxy, [*push, local, f"docker://{self.ref(tag)}"], env)
        listed = self.served(tag, digest_file.read_text().strip(), N)
        return Sample([create, pushed], lists=[listed])

    # manifestor: one MANIFESTOR_CACHE_DIR (and config directory) per series, shared by its
    # warm-up and measured runs, as re-runs on one machine share it.
    def manifestor_env(self, series: str, cache: bool = True) -> dict[str, str]:
        directory = self.state(series)
        return clean_environment(
            DOCKER_CONFIG=str(directory / "docker-config"),
            MANIFESTOR_CACHE_DIR=str(directory / "cache") if cache else "off",
        )

    def manifestor_create_push(self, tag: str) -> Sample:
        env = self.manifestor_env("manifestor-create-push")
        target = self.ref(tag)
        create, _ = measure(self.proxy, [*self.manifestor, "create", target, *self.sources], env)
        push, pushed = measure(self.proxy, [*self.manifestor, "push", target], env)
        return Sample([create, push], lists=[self.served(tag, last_digest(pushed.stdout), N)])

    def manifestor_one_shot(self, tag: str, cache: bool = True) -> Sample:
        env = self.manifestor_env("manifestor-one-shot" if cache else "manifestor-no-cache", cache)
        argv = [*self.manifestor, "push", self.ref(tag), *self.sources]
        phase, pushed = measure(self.proxy, argv, env)
        listed = self.served(tag, last_digest(pushed.stdout), N)
        return Sample([phase], said_unchanged="unchanged" in pushed.stderr, lists=[listed])

    def manifestor_spec(self, tags: list[str]) -> Sample:
        spec = self.fresh("spec") / "release.yaml"
        spec.write_text("---\n".join(self.spec_document(tag) for tag in tags))
        argv = [*self.manifestor, "push", "--spec", str(spec)]
        phase, pushed = measure(self.proxy, argv, self.manifestor_env("manifestor-spec"))
        printed = {}  # target -> digest, from its `DIGEST TARGET` lines
        for line in pushed.stdout.splitlines():
            words = line.split()
            if len(words) == 2 and words[0].startswith("sha256:"):
                printed[words[1]] = words[0]
        lists = [
            self.served(tag, printed.get(self.ref(tag), "(not printed)"), len(self.spec_sources))
            for tag in tags
        ]
        return Sample([phase], lists=lists)

    def spec_document(self, tag: str) -> str:
        lines = [f"image: {self.ref(tag)}", "manifests:"]
        for source in self.spec_sources:
            suffix = source.rsplit("-", 1)[1]
            _, os_name, arch, variant = next(p for p in PLATFORMS if p[0] == suffix)
            fields = f"os: {os_name}, architecture: {arch}" + (
                f", variant: {variant}" if variant else ""
            )
            lines += [f"  - image: {source}", f"    platform: {{{fields}}}"]
        return "\n".join(lines) + "\n"


def main_rows(have_docker: bool, have_podman: bool) -> list[Row]:
    """The rows of one round, in the order they run; each compared with a docker row."""
    base = "docker" if have_docker else None
    rows = [Row("docker", "docker create + push", None)] if have_docker else []
    if have_podman:
        rows.append(Row("podman-one", "podman create + push --all=false", base))
        rows.append(Row("podman-all", "podman create + push (--all)", base))
    rows += [
        Row("m-create-push", "manifestor create + push", base),
        Row("m-one-shot", "manifestor push TARGET SRC...", base),
        Row("m-no-cache", "  the same, cache off", base),
    ]
    if have_docker:
        rows.append(Row("docker-rerun", "re-run: docker create + push", None))
    rows.append(Row("m-rerun", "re-run: manifestor one-shot", "docker-rerun" if base else None))
    return rows


def run_main_round(bench: Bench, rows: list[Row], label: str, keep: bool) -> None:
    """One run of every main row, in turn; the re-runs repeat this round's pushes."""
    runners: dict[str, Callable[[], Sample]] = {
        "docker": lambda: bench.docker_create_push(f"docker-{label}"),
        "podman-one": lambda: bench.podman_create_push(f"podman-one-{label}", push_all=False),
        "podman-all": lambda: bench.podman_create_push(f"podman-all-{label}", push_all=True),
        "m-create-push": lambda: bench.manifestor_create_push(f"m-create-push-{label}"),
        "m-one-shot": lambda: bench.manifestor_one_shot(f"m-one-shot-{label}"),
        "m-no-cache": lambda: bench.manifestor_one_shot(f"m-no-cache-{label}", cache=False),
        "docker-rerun": lambda: bench.docker_create_push(f"docker-{label}"),
        "m-rerun": lambda: bench.manifestor_one_shot(f"m-one-shot-{label}"),
    }
    parts = []
    for row in rows:
        sample = runners[row.key]()
        if keep:
            row.samples.append(sample)
        parts.append(f"{row.key} {sample.seconds:.2f}s")
    print(f"  {'run' if keep else 'warm-up'} {label}: " + ", ".join(parts), file=sys.stderr)


def spec_rows(sizes: list[int], have_docker: bool) -> list[Row]:
    rows = []
    for size in sizes:
        docker = f"docker-spec{size}"
        if have_docker:
            rows.append(Row(docker, f"{size} releases: docker", None))
        rows.append(
            Row(f"m-spec{size}", f"{size} releases: manifestor", docker if have_docker else None)
        )
    return rows


def run_spec_round(bench: Bench, rows: list[Row], label: str, docker_first: bool) -> None:
    """manifestor's spec of each size, and docker's releases once for the largest size."""
    sizes = sorted(int(r.key.rsplit("spec", 1)[1]) for r in rows if r.key.startswith("m-spec"))
    by_key = {r.key: r for r in rows}
    parts = []

    def docker() -> None:
        if "docker-spec" + str(sizes[-1]) not in by_key:
            return
        for size, sample in bench.docker_releases(label, sizes).items():
            by_key[f"docker-spec{size}"].samples.append(sample)
            parts.append(f"docker-spec{size} {sample.seconds:.2f}s")

    if docker_first:
        docker()
    for size in sizes:
        tags = [f"m-spec{size}-{label}-{i}" for i in range(size)]
        sample = bench.manifestor_spec(tags)
        by_key[f"m-spec{size}"].samples.append(sample)
        parts.append(f"m-spec{size} {sample.seconds:.2f}s")
    if not docker_first:
        docker()
    print(f"  spec run {label}: " + ", ".join(parts), file=sys.stderr)


# -- statistics and the report --


def med(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def count(values: Iterable[int]) -> str:
    """The median of a count, with its range when the runs differ."""
    values = list(values)
    text = f"{statistics.median(values):g}"
    return text if min(values) == max(values) else f"{text} ({min(values)}-{max(values)})"


def by_method(samples: list[Sample], phase: int | None = None) -> str:
    parts = []
    for method in METHODS:
        if phase is None:
            values = [s.methods.get(method, 0) for s in samples]
        else:
            values = [s.phases[phase].methods.get(method, 0) for s in samples]
        if any(values):
            parts.append(f"{method} {count(values)}")
    return ", ".join(parts) or "none"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class Results:
    latency_ms: float
    rows: dict[str, Row]
    runs: int
    spec_runs: int
    warmup: int  # rounds before the measured ones at this latency

    def seconds(self, key: str) -> float | None:
        row = self.rows.get(key)
        return med(s.seconds for s in row.samples) if row and row.samples else None

    def ratio(self, key: str, base: str | None) -> float | None:
        ours, theirs = self.seconds(key), self.seconds(base) if base else None
        return None if ours is None or not theirs else ours / theirs


def print_table(results: Results) -> None:
    print(
        f"{'row':<36} {'wall s':>7} {'x docker':>8} {'cpu s':>6}  {'requests':<11} {'conns':>5}"
        f" {'peak':>4}  by method (median per run)"
    )
    for row in results.rows.values():
        if not row.samples:
            continue
        ratio = results.ratio(row.key, row.baseline)
        samples = row.samples
        print(
            f"{row.title:<36} {med(s.seconds for s in samples):>7.3f}"
            f" {'-' if ratio is None else f'{ratio:.2f}x':>8}"
            f" {med(s.cpu for s in samples):>6.2f}"
            f"  {count(s.requests for s in samples):<11}"
            f" {count(s.connections for s in samples):>5}"
            f" {max(max(p.peak for p in s.phases) for s in samples):>4}"
            f"  {by_method(samples)}"
        )
        if len(samples[0].phases) == 2:
            for i, name in enumerate(("create", "push")):
                print(
                    f"{'    ' + name:<36} {med(s.phases[i].seconds for s in samples):>7.3f}"
                    f" {'':>8} {med(s.phases[i].cpu for s in samples):>6.2f}"
                    f"  {count(s.phases[i].requests for s in samples):<11}"
                    f" {count(s.phases[i].connections for s in samples):>5}"
                    f" {max(s.phases[i].peak for s in samples):>4}  {by_method(samples, i)}"
                )


def print_kinds(results: Results) -> None:
    """What each row's requests were for (median per run), e.g. GET manifest 8, HEAD blob 2."""
    print("requests by what they were for (median per run; /v2/ is the ping):")
    for row in results.rows.values():
        if not row.samples:
            continue
        kinds = sorted({k for s in row.samples for k in s.kinds})
        parts = [f"{k} {count(s.kinds.get(k, 0) for s in row.samples)}" for k in kinds]
        print(f"  {row.title.strip():<34} {', '.join(parts) or 'none'}")


def print_lists(results: Results) -> None:
    """Which rows published the very bytes docker did."""
    groups: dict[str, list[str]] = {}
    for row in results.rows.values():
        if row.samples and not row.key.startswith(("docker-spec", "m-spec")):
            kinds = {b for s in row.samples for b in s.lists}
            name = "same" if len(kinds) == 1 else f"{len(kinds)} different"
            key = next(iter(kinds)).hex() if len(kinds) == 1 else name + row.key
            groups.setdefault(key, []).append(row.key)
    if len(groups) == 1:
        print("pushed lists (8 entries): byte-identical across all rows and runs")
        return
    print("pushed lists (8 entries): rows that published byte-identical lists:")
    for members in groups.values():
        print(f"  {', '.join(members)}")


def target_lines(results: Results, startup: Startup | None) -> list[tuple[str, str, bool | None]]:
    """(target, what this run shows, met?) for issue 11's 'Done when'; None = not measured."""
    lines: list[tuple[str, str, bool | None]] = []

    def time_target(name: str, key: str, base: str, limit: float) -> None:
        ratio = results.ratio(key, base)
        if ratio is None:
            lines.append((f"{name} <= {limit}x docker", "not measured", None))
        else:
            ours, theirs = results.seconds(key), results.seconds(base)
            lines.append(
                (
                    f"{name} <= {limit}x docker",
                    f"{ratio:.2f}x ({ours:.3f} s / {theirs:.3f} s)",
                    ratio <= limit,
                )
            )

    time_target("one-shot push", "m-one-shot", "docker", ONE_SHOT_TIME)
    time_target("  the same, cache off", "m-no-cache", "docker", ONE_SHOT_TIME)
    time_target("create + push", "m-create-push", "docker", CREATE_PUSH_TIME)
    lines.extend(startup_targets(startup))
    rerun = results.rows.get("m-rerun")
    if rerun and rerun.samples:
        # Every GET counts, the /v2/ ping included; the line names what they were.
        gets = max(s.methods.get("GET", 0) for s in rerun.samples)
        puts = max(s.methods.get("PUT", 0) for s in rerun.samples)
        said = sum(s.said_unchanged for s in rerun.samples)
        what = sorted({k for s in rerun.samples for k in s.kinds if k.startswith(("GET", "PUT"))})
        which = f" (all: {', '.join(what)})" if what else ""
        lines.append(
            (
                "unchanged re-run: 0 GET (the ping included), 0 PUT",
                f"at most {gets} GET, {puts} PUT in a run{which};"
                f" said 'unchanged' in {said}/{len(rerun.samples)}",
                gets == 0 and puts == 0,
            )
        )
        peak = min(max(p.peak for p in s.phases) for s in rerun.samples)
        lines.append(
            (
                "unchanged re-run: its HEADs in parallel",
                f"at least {peak} requests in flight at once in every run",
                peak > 1,
            )
        )
    sizes = sorted(int(k[len("m-spec") :]) for k in results.rows if k.startswith("m-spec"))
    if 50 in sizes:
        time_target("50-release spec", "m-spec50", "docker-spec50", SPEC_TIME)
    else:
        lines.append((f"50-release spec <= {SPEC_TIME}x docker", "not measured", None))

    def request_target(name: str, key: str, limit: int) -> None:
        row = results.rows.get(key)
        if row and row.samples:
            most = max(s.requests for s in row.samples)
            lines.append(
                (
                    f"{name} <= {limit} requests",
                    f"{count(s.requests for s in row.samples)} (most {most})",
                    most <= limit,
                )
            )

    request_target("one-shot, 2N+3 =", "m-one-shot", ONE_SHOT_REQUESTS)
    request_target("one-shot cache off, 2N+3 =", "m-no-cache", ONE_SHOT_REQUESTS)
    request_target("create + push, 2N+5 =", "m-create-push", CREATE_PUSH_REQUESTS)
    most = 0
    for row in results.rows.values():
        if row.key.startswith("m-") and row.samples:
            most = max(most, max(p.connections for s in row.samples for p in s.phases))
    lines.append(
        (
            f"<= {CONNECTIONS_PER_HOST} connections per host per process",
            f"most in any manifestor process: {most}",
            most <= CONNECTIONS_PER_HOST,
        )
    )
    return lines


def startup_targets(startup: Startup | None) -> list[tuple[str, str, bool | None]]:
    if startup is None:
        return [(f"--version <= {VERSION_MS} ms median", "not measured", None)]
    lines: list[tuple[str, str, bool | None]] = []
    for label in ("--version", "--help"):
        ms = startup.median_ms(label)
        lines.append((f"{label} <= {VERSION_MS} ms median", f"{ms:.0f} ms", ms <= VERSION_MS))
    commands = [k for k in startup.times if k.endswith(" --help") and k != "--help"]
    if commands:
        slowest = max(commands, key=startup.median_ms)
        ms = startup.median_ms(slowest)
        lines.append(
            (
                f"every command's start-up <= {COMMAND_MS} ms",
                f"slowest: {slowest}, {ms:.0f} ms median",
                ms <= COMMAND_MS,
            )
        )
    return lines


def print_targets(results: Results, startup: Startup | None) -> None:
    judged = "the issue's condition" if results.latency_ms == 20 else "the issue judges at 20 ms"
    print(f"issue 11 targets, from this run at {results.latency_ms:g} ms ({judged}):")
    for target, shown, ok in target_lines(results, startup):
        mark = "-" if ok is None else verdict(ok)
        print(f"  {target:<44} {shown:<52} {mark}")


def print_latency_block(results: Results, startup: Startup | None) -> None:
    print()
    print(
        f"== {results.latency_ms:g} ms added per request and per new connection: medians of"
        f" {results.runs} run(s) after {results.warmup} warm-up round(s); specs:"
        f" {results.spec_runs} run(s) =="
    )
    print_table(results)
    print()
    print_kinds(results)
    print()
    print_lists(results)
    print()
    print_targets(results, startup)


# -- start-up --


@dataclass
class Startup:
    install: str
    times: dict[str, list[float]]  # label -> wall seconds per run
    cpu: dict[str, list[float]]  # label -> user + system CPU seconds per run

    def median_ms(self, label: str) -> float:
        return med(self.times[label]) * 1000


def quiet_run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {result.returncode}\n{result.stderr}")
    return result


def command_names(manifestor: list[str]) -> list[str]:
    """The commands `manifestor --help` lists (so a new command is timed without an edit).
    Reads click's plain "Commands:" section and rich's boxed one alike."""
    out = quiet_run([*manifestor, "--help"], clean_environment()).stdout
    names: list[str] = []
    inside = False
    for line in out.splitlines():
        if re.match(r"^\W*Commands\b", line):
            inside = True
        elif inside:
            # a name sits near the left edge; wrapped descriptions are indented further
            match = re.match(r"^[│|]?\s{1,4}([a-z][a-z0-9-]*)(\s{2,}|\s*$)", line)
            if match:
                names.append(match.group(1))
            elif not line.strip() or re.match(r"^\S", line) and not line.startswith("│"):
                if names:
                    break
    return names


def measure_startup(
    manifestor: list[str], python: str, runs: int, command_runs: int, install: str
) -> Startup:
    """Start-up of `manifestor --version`, `--help` (`runs` times) and of `<command> --help`
    for every command (`command_runs` times; 0: none), next to `python -c pass` of the
    interpreter manifestor runs on and `docker --version`. The runs are interleaved."""
    headline = {"python -c pass": [python, "-c", "pass"]}
    headline["--version"] = [*manifestor, "--version"]
    headline["--help"] = [*manifestor, "--help"]
    if shutil.which("docker"):
        headline["docker --version"] = ["docker", "--version"]
    commands = {}
    for name in command_names(manifestor) if command_runs else []:
        commands[f"{name} --help"] = [*manifestor, name, "--help"]
    env = clean_environment()
    for command in headline.values():  # unmeasured: fills the page cache
        quiet_run(command, env)
    order = [*(k for k in headline if k != "docker --version"), *commands]
    order += [k for k in headline if k == "docker --version"]
    times: dict[str, list[float]] = {label: [] for label in order}
    cpu: dict[str, list[float]] = {label: [] for label in order}
    for i in range(max(runs, command_runs)):
        todo = {**(headline if i < runs else {}), **(commands if i < command_runs else {})}
        for label, command in todo.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            quiet_run(command, env)
            times[label].append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return Startup(install, times, cpu)


def print_startup(startup: Startup) -> None:
    base = startup.median_ms("python -c pass")
    print()
    print(f"== start-up: {startup.install}; interleaved runs ==")
    header = f"{'command':<28} {'runs':>4} {'median ms':>9} {'min-max ms':>11} {'x python':>8}"
    print(header + f" {'CPU ms':>6}  target (on the median wall time)")
    for label, values in startup.times.items():
        ms = med(values) * 1000
        spread = f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"
        cpu_ms = med(startup.cpu[label]) * 1000
        if label in ("--version", "--help"):
            target = f"<= {VERSION_MS} ms {verdict(ms <= VERSION_MS)}"
        elif label.endswith(" --help"):
            target = f"<= {COMMAND_MS} ms {verdict(ms <= COMMAND_MS)}"
        else:
            target = ""
        name = label if label in ("python -c pass", "docker --version") else f"manifestor {label}"
        print(
            f"{name:<28} {len(values):>4} {ms:>9.0f} {spread:>11} {ms / base:>7.2f}x"
            f" {cpu_ms:>6.0f}  {target}"
        )
    print(
        "CPU ms: median user + system time of the process, which a busy machine inflates"
        " less than the wall time"
    )
    if not any(k.endswith(" --help") and k != "--help" for k in startup.times):
        print("each command's start-up (`manifestor <command> --help`): not measured")


# -- the manifestor under test: a normal (non-editable) install --


def source_tree(destination: Path) -> Path:
    """A copy of this checkout's files (tracked and new, not ignored), so the build leaves
    nothing behind in the checkout and cannot pick up stale build/ output."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.split("\0")):
            source = ROOT / name
            if source.is_file():
                target = destination / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:
        shutil.copytree(
            ROOT,
            destination,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
            ),
        )
    return destination


def non_editable_install(venv: Path, interpreter: str = sys.executable) -> Path:
    """`venv`/bin/manifestor from `pip install <copy of this checkout>` (reused if present),
    the venv made by `interpreter` (default: the one running this script)."""
    manifestor = venv / "bin" / "manifestor"
    if manifestor.exists():
        print(f"bench: reusing {venv} (pip install of an earlier run)", file=sys.stderr)
        return manifestor
    print(f"bench: pip install (non-editable) into {venv}, about a minute", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, timeout=600)
    with tempfile.TemporaryDirectory(prefix="bench-src-") as src:
        result = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                str(source_tree(Path(src))),
            ],
            capture_output=True,
            text=True,
            timeout=1200,
        )
    if result.returncode != 0:
        raise BenchError(f"pip install failed:\n{result.stdout}{result.stderr}")
    print(f"bench: installed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return manifestor


# -- main --


def version_of(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return (
        (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "?"
    )


def measure_latency(
    latency: float,
    warmup: int,
    registry: RegistryProcess,
    client: RigClient,
    manifestor: list[str],
    state: Path,
    tags: list[str],
    args: argparse.Namespace,
    have_docker: bool,
    have_podman: bool,
) -> Results:
    rows = main_rows(have_docker, have_podman)
    specs = spec_rows(args.spec_sizes, have_docker)
    with FaultProxy(registry.url, latency=latency) as proxy:
        bench = Bench(
            proxy,
            client,
            manifestor,
            state,
            sources=[f"{proxy.host}/{REPO}:{t}" for t in tags],
            spec_sources=[f"{proxy.host}/{REPO}:1.0-{s}" for s in SPEC_PLATFORMS],
        )
        ms = f"{latency * 1000:g}ms"
        print(f"bench: {ms}: proxy {proxy.url} -> registry {registry.url}", file=sys.stderr)
        for i in range(warmup + args.runs):
            run_main_round(bench, rows, f"{ms}-{i}", keep=i >= warmup)
        if specs and warmup:
            # The spec series' first run fills its cache, as an earlier release on this
            # machine would; docker keeps nothing between runs.
            warm = [r for r in specs if r.key.startswith("m-")][:1]
            run_spec_round(bench, warm, f"{ms}-warm", docker_first=False)
            warm[0].samples.clear()
        for i in range(args.spec_runs):
            run_spec_round(bench, specs, f"{ms}-{i}", docker_first=i % 2 == 1)
    return Results(
        latency * 1000, {r.key: r for r in rows + specs}, args.runs, args.spec_runs, warmup
    )


def nodelay_check(registry: RegistryProcess) -> str:
    """Whether the proxy's accepted sockets have TCP_NODELAY set, read off a live socket."""
    import socket

    import requests

    with FaultProxy(registry.url) as proxy, requests.Session() as session:
        session.get(f"{proxy.url}/v2/", timeout=10)
        server = proxy._server._httpd
        with server.live_lock:
            live = list(server.live)
        flags = {s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in live}
    if not live:
        return "not seen (no live socket)"
    return "set" if flags == {1} else "NOT set"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a sanity check: 1 run, 0 ms only, a 5-release spec, 3 start-ups",
    )
    parser.add_argument("--runs", type=int, help="measured runs per row (default 4)")
    parser.add_argument("--warmup", type=int, help="unmeasured rounds first (default 1)")
    parser.add_argument(
        "--spec-sizes", help="releases per spec, comma-separated (default 10,25,50)"
    )
    parser.add_argument("--spec-runs", type=int, help="measured runs per spec size (default 2)")
    parser.add_argument("--latencies", help="ms added per request and connection (default 20,0)")
    parser.add_argument(
        "--startup-runs", type=int, help="runs of --version, --help, python -c pass (default 7)"
    )
    parser.add_argument(
        "--command-runs", type=int, help="runs of each `manifestor <command> --help` (default 3)"
    )
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up part")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up part")
    parser.add_argument("--no-podman", action="store_true", help="leave podman out")
    parser.add_argument(
        "--venv", type=Path, help="install manifestor (non-editable) here, or reuse the one there"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter that makes the venv (default: this one), e.g. /usr/bin/python3 "
        "for Debian's own build",
    )
    parser.add_argument(
        "--manifestor",
        help="the manifestor command to measure instead (e.g. "
        ".venv/bin/manifestor, an editable install)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs = args.runs if args.runs is not None else (1 if quick else 4)
    args.warmup = args.warmup if args.warmup is not None else (0 if quick else 1)
    args.spec_runs = args.spec_runs if args.spec_runs is not None else (1 if quick else 2)
    args.startup_runs = args.startup_runs or (3 if quick else 7)
    args.command_runs = args.command_runs if args.command_runs is not None else (0 if quick else 3)
    sizes = args.spec_sizes or ("5" if quick else "10,25,50")
    latencies = args.latencies or ("0" if quick else "20,0")
    try:
        args.spec_sizes = sorted({int(s) for s in sizes.split(",") if s.strip() and int(s) > 0})
        args.latencies = [float(s) / 1000 for s in latencies.split(",") if s.strip()]
    except ValueError:
        parser.error("--spec-sizes and --latencies take comma-separated numbers")
    if args.runs < 1 or args.spec_runs < 0 or args.warmup < 0:
        parser.error("--runs must be at least 1, --spec-runs and --warmup at least 0")
    if args.spec_runs == 0:
        args.spec_sizes = []
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    have_docker = shutil.which("docker") is not None
    have_podman = shutil.which("podman") is not None and not args.no_podman
    with tempfile.TemporaryDirectory(prefix="bench-venv-") as temp_venv:
        if args.manifestor:
            manifestor = args.manifestor.split()
            install = f"`{args.manifestor}` as given"
        elif args.quick and not args.venv:
            manifestor = [str(Path(sys.executable).parent / "manifestor")]
            install = f"{manifestor[0]} (quick mode: this environment's install, maybe editable)"
        else:
            venv = args.venv or Path(temp_venv) / "venv"
            manifestor = [str(non_editable_install(venv, args.python))]
            where = venv if args.venv else "a temp venv"
            install = f"non-editable pip install of this checkout in {where}"
        python = str(Path(manifestor[0]).parent / "python")
        if not Path(python).exists():
            python = sys.executable

        print("bench_vs_peers: docker manifest, podman manifest and manifestor side by side")
        print(
            f"  machine: {os.cpu_count()} CPUs, {platform.platform()}, load average at start "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(f"  date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
        print(f"  manifestor: {version_of([*manifestor, '--version'])}; {install}")
        real = os.path.realpath(
            subprocess.run(
                [python, "-c", "import sys; print(sys._base_executable)"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or python
        )
        print(f"  python: {version_of([python, '--version'])} ({real})")
        print(f"  docker: {version_of(['docker', '--version']) if have_docker else 'not on PATH'}")
        podman_state = (
            version_of(["podman", "--version"])
            if have_podman
            else "left out (--no-podman)"
            if args.no_podman
            else "not on PATH (apt-get install podman)"
        )
        print(f"  podman: {podman_state}\n")
        sys.stdout.flush()

        startup = None
        if not args.no_startup:
            print("bench: start-up ...", file=sys.stderr)
            startup = measure_startup(
                manifestor, python, args.startup_runs, args.command_runs, install
            )
        if not args.startup_only:
            if not Path(REGISTRY_BIN).exists():
                raise BenchError(
                    f"{REGISTRY_BIN} is missing; apt-get install docker-registry "
                    "(or run scripts/setup.sh)"
                )
            all_results = []
            with (
                tempfile.TemporaryDirectory(prefix="bench-registry-") as workdir,
                tempfile.TemporaryDirectory(prefix="bench-state-") as state,
            ):
                with (
                    RegistryProcess("plain", workdir=Path(workdir)) as registry,
                    RigClient(registry) as client,
                ):
                    tags = []
                    for suffix, os_name, arch, variant in PLATFORMS:
                        tag = f"1.0-{suffix}"
                        client.push_image(REPO, tag, make_image(os_name, arch, variant=variant))
                        tags.append(tag)
                    nodelay = nodelay_check(registry)
                    for i, latency in enumerate(args.latencies):
                        warmup = args.warmup if i == 0 else 0  # the state is warm by then
                        all_results.append(
                            measure_latency(
                                latency,
                                warmup,
                                registry,
                                client,
                                manifestor,
                                Path(state),
                                tags,
                                args,
                                have_docker,
                                have_podman,
                            )
                        )
        if startup is not None:
            print_startup(startup)
        if not args.startup_only:
            print_setup(nodelay)
            for results in all_results:
                print_latency_block(results, startup)
    print()
    print(
        f"bench_vs_peers: finished in {time.perf_counter() - started:.0f} s; load average now "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


def print_setup(nodelay: str) -> None:
    notes = [
        f"sources: {N} per-arch images in one repository ({REPO}:1.0-<arch>), tiny (one layer)",
        "proxy: the test rig's FaultProxy, adding the latency once per new connection and once"
        f" per request; TCP_NODELAY on its sockets: {nodelay}",
        "counted per run from the proxy: requests by method; TCP connections (docker's and"
        " podman's HTTPS attempts before plain HTTP count as connections, not requests); peak ="
        " the most requests in flight at once in any process of the run",
        "state kept per series, as on one user's machine: manifestor one MANIFESTOR_CACHE_DIR"
        " and config directory per row for the whole run (the warm-up fills it; the re-run row"
        " uses the one-shot row's, the spec rows share one); podman one --root/--runroot per"
        " row; docker a fresh DOCKER_CONFIG per run (it keeps nothing a later run could reuse)",
        "the rows run in turn in every round; a re-run pushes that round's tag again with the"
        f" same sources; specs: the same {len(SPEC_PLATFORMS)} sources in every release; docker's"
        " smaller specs are the first releases of its largest",
    ]
    print()
    for note in notes:
        print(textwrap.fill(note, width=100, subsequent_indent="  "))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    except KeyboardInterrupt:
        sys.exit("bench: interrupted")
