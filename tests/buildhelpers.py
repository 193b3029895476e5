"""Helpers for the build tests: require the real tools (buildah, QEMU handlers, root) or
fail saying how to get them, push an offline busybox base image for three platforms to a
test registry, and read a file that a RUN step wrote out of a pushed image's layers."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from rig.images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Blob, Image, RigClient
from rig.registry import RegistryProcess

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
import busybox  # noqa: E402

from manifestor.local.binfmt import read_binfmt  # noqa: E402
from manifestor.model.platform import parse_platform  # noqa: E402

BASE_REPO = "base/busybox"
BASE_TAG = "1"
# platform → what `uname -m` prints for it (under QEMU on this x86_64 host).
UNAME = {"linux/amd64": "x86_64", "linux/arm64/v8": "aarch64", "linux/arm/v7": "armv7l"}
SETUP_HINT = "run scripts/setup.sh as root (it installs buildah, qemu-user-static, binfmt-support)"


def require_build_host() -> None:
    """Fail (not skip) when this host cannot run the build tests, naming the fix."""
    if os.geteuid() != 0:
        pytest.fail(f"the build tests need root; {SETUP_HINT}")
    if shutil.which("buildah") is None:
        pytest.fail(f"buildah is not installed; {SETUP_HINT}")
    state = read_binfmt()
    if not state.mounted:
        pytest.fail(f"binfmt_misc is not mounted; {SETUP_HINT}")
    for platform in ("linux/arm64/v8", "linux/arm/v7"):
        handler = state.handler_for(parse_platform(platform))
        if handler is None or not handler.runs or not handler.fix_binary:
            pytest.fail(f"no usable QEMU handler (with F) for {platform}; {SETUP_HINT}")


def push_busybox_base(registry: RegistryProcess) -> str:
    """`base/busybox:1` in `registry`: an OCI index of static busybox images for
    linux/amd64, linux/arm64/v8 and linux/arm/v7 (from Debian's .debs, cached)."""
    platforms = {
        "amd64": {"architecture": "amd64", "os": "linux"},
        "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        "arm": {"architecture": "arm", "os": "linux", "variant": "v7"},
    }
    with RigClient(registry) as client:
        pushed = []
        for target, platform in platforms.items():
            image = _busybox_image(target, platform)
            pushed.append(client.push_image(BASE_REPO, image.digest, image))
        client.push_index(BASE_REPO, BASE_TAG, pushed, attestation=False)
    return f"{registry.host}/{BASE_REPO}:{BASE_TAG}"


def _busybox_image(target: str, platform: dict[str, Any]) -> Image:
    tar = busybox.busybox_layer(target)
    layer = Blob.of(OCI_LAYER, gzip.compress(tar, mtime=0))
    diff_id = Blob.of(OCI_LAYER, tar).digest
    config = Blob.of(
        OCI_CONFIG,
        json.dumps(
            {
                **platform,
                "created": "1970-01-01T00:00:00Z",
                "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "sh"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "busybox-static"}],
            }
        ).encode(),
    )
    manifest = Blob.of(
        OCI_MANIFEST,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ).encode(),
    )
    return Image(platform, layer, config, manifest, diff_id)


def write_context(directory: Path, base: str, *run_lines: str) -> Path:
    """A build context whose Containerfile is FROM `base` plus the given lines."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"FROM {base}", 'RUN ["/bin/busybox", "--install", "-s", "/bin"]', *run_lines]
    (directory / "Containerfile").write_text("\n".join(lines) + "\n")
    return directory


def read_file_from_image(client: RigClient, repo: str, digest: str, name: str) -> str | None:
    """`name` as the image's layers leave it (the topmost layer that has it wins)."""
    manifest = client.get_manifest(repo, digest).json()
    found = None
    for layer in manifest["layers"]:
        data = client.get_blob(repo, layer["digest"]).content
        if layer["mediaType"].endswith("gzip"):
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                if member.name.lstrip("./") == name.lstrip("/") and member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    found = extracted.read().decode()
    return found


def image_config(client: RigClient, repo: str, digest: str) -> dict[str, Any]:
    manifest = client.get_manifest(repo, digest).json()
    return client.get_blob(repo, manifest["config"]["digest"]).json()
