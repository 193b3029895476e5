"""The image builders on this machine — buildah, podman, docker with buildx — whether each
can build here, and the command lines that build one platform into an OCI layout with no
tag anywhere. Only `detect_builders` runs anything (each tool's version and info)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from manifestor.model.platform import Platform

BUILDER_NAMES = ("buildah", "podman", "docker")
# Names a store for buildah/podman (`--root DIR/root --runroot DIR/run`), so tests and CI
# jobs can keep their images out of /var/lib/containers.
STORE_VARIABLE = "MANIFESTOR_BUILD_STORE"
_PROBE_TIMEOUT = 20.0

Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class BuildRequest:
    """One platform to build from a context into an OCI layout directory."""

    platform: Platform
    context: Path
    output: Path
    containerfile: Path | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    tls_verify: bool = True
    # Seconds since the epoch for every timestamp in the image: identical inputs then
    # give identical digests, so a re-run is "unchanged".
    timestamp: int | None = None


@dataclass(frozen=True)
class BuilderStatus:
    """What `detect_builders` found out about one builder."""

    name: str
    path: str | None
    version: str | None = None
    usable: bool = False
    reason: str = ""
    fix: str = ""
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Builder:
    """Forms the command lines of one builder. buildah and podman build into their own
    store, then push the image ID to `oci:DIR` and remove it; docker buildx writes the
    layout itself. The image ID comes from `--iidfile`, so no tag is ever made."""

    name: str
    executable: str
    store: Path | None = None

    @property
    def exports(self) -> bool:
        """Whether the build leaves an image in a store that must be pushed to the layout."""
        return self.name != "docker"

    def build_command(self, request: BuildRequest, iidfile: Path) -> list[str]:
        platform = str(request.platform)
        if self.name == "docker":
            command = [
                self.executable,
                "buildx",
                "build",
                "--platform",
                platform,
                "--provenance=false",
                "--output",
                f"type=oci,dest={request.output},tar=false",
            ]
            args = dict(request.build_args)
            if request.timestamp is not None:
                args.setdefault("SOURCE_DATE_EPOCH", str(request.timestamp))
            return command + _file_and_args(request.containerfile, args) + [str(request.context)]
        command = [self.executable, *self.store_options()]
        command += ["bud"] if self.name == "buildah" else ["build"]
        command += ["--isolation", "chroot", "--platform", platform]
        # podman's layer cache ignores --platform (it reused arm64 layers for amd64), and
        # buildah needs no cache here either: every build starts clean.
        command += ["--layers=false"] if self.name == "buildah" else ["--no-cache"]
        command += ["--iidfile", str(iidfile)]
        if not request.tls_verify:
            command.append("--tls-verify=false")
        if request.timestamp is not None:
            command += ["--timestamp", str(request.timestamp)]
        command += _file_and_args(request.containerfile, request.build_args)
        return command + [str(request.context)]

    def export_command(self, image_id: str, output: Path) -> list[str]:
        return [self.executable, *self.store_options(), "push", image_id, f"oci:{output}"]

    def remove_command(self, image_id: str) -> list[str]:
        return [self.executable, *self.store_options(), "rmi", image_id]

    def store_options(self) -> list[str]:
        if self.store is None:
            return []
        return ["--root", str(self.store / "root"), "--runroot", str(self.store / "run")]


def _file_and_args(containerfile: Path | None, build_args: Mapping[str, str]) -> list[str]:
    out = ["-f", str(containerfile)] if containerfile is not None else []
    for key, value in build_args.items():
        out += ["--build-arg", f"{key}={value}"]
    return out


def store_from_environment(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    value = env.get(STORE_VARIABLE, "").strip()
    return Path(value) if value else None


def detect_builders(
    store: Path | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Run | None = None,
) -> tuple[BuilderStatus, ...]:
    """Each known builder: found on PATH or not, its version, whether it can build here."""
    runner = run or _run
    return tuple(_probe(name, which(name), store, runner) for name in BUILDER_NAMES)


def make_builder(status: BuilderStatus, store: Path | None = None) -> Builder:
    assert status.path is not None
    return Builder(status.name, status.path, store if status.name != "docker" else None)


def _probe(name: str, path: str | None, store: Path | None, run: Run) -> BuilderStatus:
    if path is None:
        return BuilderStatus(name, None, reason="not installed", fix=_INSTALL[name])
    probe = run([path, "--version"])
    version = _first_line(probe) if probe.returncode == 0 else None
    if name == "docker":
        return _probe_docker(path, version, run)
    builder = Builder(name, path, store)
    # buildah info prints JSON as it is; podman needs --format json.
    json_format = ["--format", "json"] if name == "podman" else []
    info = run([path, *builder.store_options(), "info", *json_format])
    if info.returncode != 0:
        return BuilderStatus(
            name, path, version, reason=f"{name} info failed: {_first_line(info, stderr=True)}"
        )
    details = ["isolation chroot"] + _store_details(info.stdout)
    if os.geteuid() != 0:
        details.append("rootless (needs /etc/subuid and /etc/subgid entries)")
    return BuilderStatus(name, path, version, usable=True, details=tuple(details))


def _probe_docker(path: str, version: str | None, run: Run) -> BuilderStatus:
    buildx = run([path, "buildx", "version"])
    if buildx.returncode != 0:
        return BuilderStatus(
            "docker",
            path,
            version,
            reason="the buildx plugin is missing",
            fix="apt-get install docker-buildx-plugin (Docker's apt repository)",
        )
    details = (f"buildx {_first_line(buildx)}",)
    daemon = run([path, "info", "--format", "{{.ServerVersion}}"])
    if daemon.returncode != 0 or not daemon.stdout.strip():
        return BuilderStatus(
            "docker",
            path,
            version,
            reason=f"no Docker daemon ({_first_line(daemon, stderr=True)})",
            fix="start dockerd, or use buildah (apt-get install buildah)",
            details=details,
        )
    return BuilderStatus("docker", path, version, usable=True, details=details)


def _store_details(info_json: str) -> list[str]:
    try:
        info = json.loads(info_json)
    except json.JSONDecodeError:
        return []
    store = info.get("store") if isinstance(info, dict) else None
    if not isinstance(store, dict):
        return []
    # buildah says GraphDriverName, podman graphDriverName.
    driver = store.get("GraphDriverName") or store.get("graphDriverName")
    root = store.get("GraphRoot") or store.get("graphRoot")
    out = []
    if isinstance(driver, str) and driver:
        out.append(f"storage driver {driver}")
    if isinstance(root, str) and root:
        out.append(f"store {root}")
    return out


_INSTALL = {
    "buildah": "apt-get install buildah",
    "podman": "apt-get install podman",
    "docker": "install Docker Engine with the buildx plugin (docs.docker.com/engine/install)",
}


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(command), 127, "", str(exc))


def _first_line(done: subprocess.CompletedProcess[str], stderr: bool = False) -> str:
    text = (done.stderr if stderr else done.stdout) or done.stdout or done.stderr or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else f"exit status {done.returncode}"
