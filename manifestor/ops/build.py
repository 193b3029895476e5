"""`build`: check every platform as doctor does, build each one into its own OCI layout
(natively or under QEMU, in parallel up to `jobs`, no tag anywhere), then publish the
layouts through the one-shot release path with their stated platforms, so children go
before the list, configs are checked against platforms, the tag is read back and an
identical re-run is "unchanged". One failed platform publishes nothing and keeps its log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from manifestor.errors import (
    BuildFailedError,
    CannotBuildError,
    InvalidReferenceError,
    UsageError,
)
from manifestor.local.builders import Builder, BuildRequest, make_builder
from manifestor.model.entries import SourceFilter
from manifestor.model.platform import Platform, validate_platform
from manifestor.model.reference import Reference, is_loopback_host, parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.doctor import DoctorReport, run_doctor
from manifestor.ops.events import Notify, Progress
from manifestor.ops.publish import PushResult
from manifestor.ops.release import (
    ReleaseOptions,
    ReleasePlan,
    plan_release,
    prepare_release,
    publish_prepared,
)
from manifestor.remote.client import RegistryClient

LOG_TAIL_LINES = 15
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE | re.MULTILINE)

BuildState = Literal["building", "built", "failed", "cancelled"]
Builders = Literal["auto", "buildah", "podman", "docker"]


@dataclass(frozen=True)
class BuildOptions:
    platforms: tuple[Platform, ...]
    context: Path = Path(".")
    containerfile: Path | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    builder: Builders = "auto"
    jobs: int | None = None
    # Seconds since the epoch for every timestamp in the images (default:
    # $SOURCE_DATE_EPOCH). Without one, each build differs and is pushed again.
    timestamp: int | None = None
    # Pull bases with TLS verification off; None: only when a FROM names a loopback host.
    insecure_bases: bool | None = None
    store: Path | None = None


@dataclass(frozen=True)
class BuildEvent:
    """A platform's build started, finished, failed or was never started."""

    platform: Platform
    state: BuildState
    seconds: float = 0.0
    log: Path | None = None


@dataclass(frozen=True)
class BuiltImage:
    platform: Platform
    layout: Path
    log: Path
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    builder: str
    images: tuple[BuiltImage, ...]
    pushed: PushResult | None = None
    plan: ReleasePlan | None = None


OnEvent = Callable[[BuildEvent], None]


def check_buildable(report: DoctorReport, options: BuildOptions) -> Builder:
    """The builder to use, once every platform is known to be buildable here; else one
    CannotBuildError naming each problem and its fix."""
    problems = report.cannot_build(options.platforms)
    if problems and report.builder is not None:
        raise CannotBuildError(
            "cannot build here: " + "; ".join(f"{p.message} (fix: {p.fix})" for p in problems)
        )
    wanted = [b for b in report.builders if options.builder in ("auto", b.name)]
    usable = [b for b in wanted if b.usable]
    if not usable:
        found = "; ".join(
            f"{b.name}: {b.reason}" + (f" (fix: {b.fix})" if b.fix else "") for b in wanted
        )
        raise CannotBuildError(f"no builder can build here: {found}")
    return make_builder(usable[0], options.store)


def build_and_publish(
    client: RegistryClient,
    target: Reference,
    options: BuildOptions,
    release_options: ReleaseOptions,
    *,
    tags: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
    dry_run: bool = False,
    report: DoctorReport | None = None,
    on_event: OnEvent | None = None,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Check, build every platform, then publish (or, on a dry run, plan) the list."""
    options = _checked(options)
    doctor = report or run_doctor(options.platforms, store=options.store)
    builder = check_buildable(doctor, options)
    work = Path(tempfile.mkdtemp(prefix="manifestor-build-"))
    kept = False
    try:
        images = build_layouts(builder, options, work, on_event=on_event, notify=notify)
        release = Release(
            target,
            tuple(SourceSpec(f"oci:{image.layout}", image.platform) for image in images),
            tuple(tags),
            dict(annotations or {}),
        )
        chosen = ReleaseOptions(
            release_options.list_format, SourceFilter(), False, release_options.upsert
        )
        if dry_run:
            plan = plan_release(client, release, chosen, notify=notify)
            return BuildResult(builder.name, tuple(images), plan=plan)
        prepared = prepare_release(client, release, chosen, notify=notify)
        pushed = publish_prepared(client, prepared, chosen, notify=notify, progress=progress)
        return BuildResult(builder.name, tuple(images), pushed=pushed)
    except BuildFailedError:
        kept = True
        raise
    finally:
        if not kept:
            shutil.rmtree(work, ignore_errors=True)


def build_layouts(
    builder: Builder,
    options: BuildOptions,
    work: Path,
    *,
    on_event: OnEvent | None = None,
    notify: Notify | None = None,
) -> list[BuiltImage]:
    """Build every platform into `work/<platform>/` (an OCI layout), logging to
    `work/<platform>.log`. Once one fails no other starts; then the layouts and the logs
    of the builds that worked are removed, and BuildFailedError names the kept logs."""
    containerfile = options.containerfile or _default_containerfile(options.context)
    tls_verify = not _insecure_bases(options, containerfile, notify)
    timestamp = options.timestamp
    if timestamp is None and os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
        timestamp = int(os.environ["SOURCE_DATE_EPOCH"])
    failed = threading.Event()
    emit = on_event or (lambda event: None)

    def one(platform: Platform) -> BuiltImage | _Failure | None:
        if failed.is_set():
            emit(BuildEvent(platform, "cancelled"))
            return None
        slug = str(platform).replace("/", "-")
        request = BuildRequest(
            platform,
            options.context,
            work / slug,
            containerfile,
            dict(options.build_args),
            tls_verify,
            timestamp,
        )
        log = work / f"{slug}.log"
        emit(BuildEvent(platform, "building", log=log))
        started = time.monotonic()
        error = _run_build(builder, request, work / f"{slug}.iid", log)
        seconds = time.monotonic() - started
        if error is not None:
            failed.set()
            emit(BuildEvent(platform, "failed", seconds, log))
            return _Failure(platform, log, error)
        emit(BuildEvent(platform, "built", seconds, log))
        return BuiltImage(platform, request.output, log, seconds)

    jobs = max(1, options.jobs or min(len(options.platforms), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=jobs) as executor:
        results = list(executor.map(one, options.platforms))
    failures = [r for r in results if isinstance(r, _Failure)]
    if failures:
        _keep_only(work, [f.log for f in failures])
        first = failures[0]
        others = "".join(f"; {f.platform} failed too, log {f.log}" for f in failures[1:])
        raise BuildFailedError(
            f"building {first.platform} failed ({first.error}); nothing was published; "
            f"log kept in {first.log}{others}; last lines: {_tail(first.log)}",
            tuple(f.log for f in failures),
        )
    return [r for r in results if isinstance(r, BuiltImage)]


@dataclass(frozen=True)
class _Failure:
    platform: Platform
    log: Path
    error: str


def _run_build(builder: Builder, request: BuildRequest, iidfile: Path, log: Path) -> str | None:
    """Build, and for store-based builders push the image to the layout and remove it.
    Returns what failed, or None."""
    with log.open("w", encoding="utf-8") as out:
        error = _step(builder.build_command(request, iidfile), out, "build")
        if error is not None or not builder.exports:
            return error
        try:
            image_id = iidfile.read_text(encoding="utf-8").strip()
        except OSError:
            return f"{builder.name} wrote no image ID"
        # Writing to a directory needs no credentials, but buildah stats the auth file
        # that DOCKER_CONFIG names and fails when it is absent: leave it out here.
        local = {k: v for k, v in os.environ.items() if k not in _AUTH_VARIABLES}
        try:
            return _step(builder.export_command(image_id, request.output), out, "export", local)
        finally:
            _remove_image(builder.remove_command(image_id), out, local)


_AUTH_VARIABLES = ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE")


def _step(
    command: list[str], out: IO[str], what: str, env: Mapping[str, str] | None = None
) -> str | None:
    out.write("$ " + " ".join(command) + "\n")
    out.flush()
    try:
        done = subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            check=False,
        )
    except OSError as exc:
        out.write(f"{exc}\n")
        return f"{what}: {command[0]} could not be run: {exc.strerror}"
    if done.returncode != 0:
        return f"{what} exited with status {done.returncode}"
    return None


def _remove_image(command: list[str], out: IO[str], env: Mapping[str, str]) -> None:
    """Remove the built image from the builder's store; logged only when that fails, so
    a failed build's log still ends with the failure."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=dict(env)
        )
    except OSError as exc:
        out.write(f"$ {' '.join(command)}\n{exc}\n")
        return
    if done.returncode != 0:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")


def _keep_only(work: Path, logs: Sequence[Path]) -> None:
    for entry in work.iterdir():
        if entry in logs:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(log unreadable)"
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)


def _checked(options: BuildOptions) -> BuildOptions:
    if not options.platforms:
        raise UsageError("build needs --platforms, e.g. linux/amd64,linux/arm64")
    for platform in options.platforms:
        validate_platform(platform)
    if not options.context.is_dir():
        raise UsageError(f"build context {options.context} is not a directory")
    if options.containerfile is not None and not options.containerfile.is_file():
        raise UsageError(f"no such Containerfile: {options.containerfile}")
    if options.jobs is not None and options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    return options


def _default_containerfile(context: Path) -> Path:
    for name in ("Containerfile", "Dockerfile"):
        if (context / name).is_file():
            return context / name
    raise UsageError(f"no Containerfile or Dockerfile in {context}; name one with -f")


def _insecure_bases(options: BuildOptions, containerfile: Path, notify: Notify | None) -> bool:
    if options.insecure_bases is not None:
        return options.insecure_bases
    hosts = sorted(loopback_bases(containerfile.read_text(encoding="utf-8", errors="replace")))
    if hosts and notify:
        notify(f"base images on loopback {', '.join(hosts)}: pulling them without TLS verification")
    return bool(hosts)


def loopback_bases(containerfile: str) -> set[str]:
    """The loopback registries (127.0.0.1:5000, localhost) that FROM lines pull from."""
    hosts = set()
    for image in _FROM.findall(containerfile):
        if "$" in image or "/" not in image:
            continue  # a build argument, or a stage or Docker Hub name
        try:
            ref = parse_reference(image)
        except InvalidReferenceError:
            continue
        if is_loopback_host(ref.domain):
            hosts.add(ref.domain)
    return hosts
