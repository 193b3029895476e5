"""The command lines each builder gets (docker buildx cannot run on a host without a
daemon, so its command line is all that is checked), builder detection with scripted
tools, and which FROM lines count as loopback bases."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from manifestor.local.builders import Builder, BuildRequest, detect_builders
from manifestor.model.platform import parse_platform
from manifestor.ops.build import loopback_bases

ARM64 = parse_platform("linux/arm64/v8")


def _request(**extra: object) -> BuildRequest:
    return BuildRequest(
        ARM64,
        Path("/ctx"),
        Path("/work/linux-arm64-v8"),
        Path("/ctx/Containerfile"),
        {"VERSION": "1.4"},
        **extra,  # type: ignore[arg-type]
    )


def test_buildah_builds_with_chroot_no_layers_and_its_own_store() -> None:
    builder = Builder("buildah", "/usr/bin/buildah", Path("/store"))
    command = builder.build_command(_request(tls_verify=False, timestamp=0), Path("/w/iid"))
    assert command == [
        "/usr/bin/buildah",
        "--root",
        "/store/root",
        "--runroot",
        "/store/run",
        "bud",
        "--isolation",
        "chroot",
        "--platform",
        "linux/arm64/v8",
        "--layers=false",
        "--iidfile",
        "/w/iid",
        "--tls-verify=false",
        "--timestamp",
        "0",
        "-f",
        "/ctx/Containerfile",
        "--build-arg",
        "VERSION=1.4",
        "/ctx",
    ]
    assert builder.export_command("sha256:abc", Path("/out")) == [
        "/usr/bin/buildah",
        "--root",
        "/store/root",
        "--runroot",
        "/store/run",
        "push",
        "sha256:abc",
        "oci:/out",
    ]
    assert builder.remove_command("sha256:abc")[-2:] == ["rmi", "sha256:abc"]


def test_podman_builds_without_its_platform_blind_cache() -> None:
    command = Builder("podman", "podman").build_command(_request(), Path("/w/iid"))
    assert command[:6] == [
        "podman",
        "build",
        "--isolation",
        "chroot",
        "--platform",
        "linux/arm64/v8",
    ]
    assert "--no-cache" in command and "--layers=false" not in command
    assert "--tls-verify=false" not in command and "--timestamp" not in command
    assert "-t" not in command and "--tag" not in command


def test_docker_buildx_writes_the_oci_layout_itself() -> None:
    builder = Builder("docker", "/usr/bin/docker")
    assert not builder.exports
    command = builder.build_command(_request(timestamp=1700000000), Path("/w/iid"))
    assert command == [
        "/usr/bin/docker",
        "buildx",
        "build",
        "--platform",
        "linux/arm64/v8",
        "--provenance=false",
        "--output",
        "type=oci,dest=/work/linux-arm64-v8,tar=false",
        "-f",
        "/ctx/Containerfile",
        "--build-arg",
        "VERSION=1.4",
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        "/ctx",
    ]


def _scripted(outputs: dict[tuple[str, ...], tuple[int, str, str]]):
    def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        key = tuple(command[1:])
        code, out, err = outputs.get(key, (127, "", f"unexpected {key}"))
        return subprocess.CompletedProcess(list(command), code, out, err)

    return run


def test_detection_without_a_docker_daemon_marks_docker_unusable() -> None:
    run = _scripted(
        {
            ("--version",): (0, "tool version 1.0\n", ""),
            ("info",): (0, '{"store": {"GraphDriverName": "vfs", "GraphRoot": "/s"}}', ""),
            ("buildx", "version"): (0, "github.com/docker/buildx v0.17.1\n", ""),
            ("info", "--format", "{{.ServerVersion}}"): (
                1,
                "",
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n",
            ),
        }
    )
    paths = {"buildah": "/usr/bin/buildah", "podman": None, "docker": "/usr/bin/docker"}
    buildah, podman, docker = detect_builders(None, paths.get, run)
    assert buildah.usable and "storage driver vfs" in buildah.details
    assert not podman.usable and podman.reason == "not installed"
    assert podman.fix == "apt-get install podman"
    assert not docker.usable and docker.reason.startswith("no Docker daemon (Cannot connect")
    assert docker.details == ("buildx github.com/docker/buildx v0.17.1",)


def test_loopback_bases_are_found_in_from_lines() -> None:
    text = (
        "ARG BASE=debian\n"
        "FROM 127.0.0.1:5000/base/busybox:1 AS build\n"
        "FROM --platform=$BUILDPLATFORM localhost:5001/tools AS tools\n"
        "from registry.example.com/app/base:2\n"
        "FROM ${BASE}\n"
        "FROM build\n"
        "FROM scratch\n"
    )
    assert loopback_bases(text) == {"127.0.0.1:5000", "localhost:5001"}
