"""Ctrl-C during a long copy: the run stops within about a second, says so, exits 130,
leaves no upload session open in the target registry and no tag pointing anywhere new.
The source is the scripted fake registry serving a large layer slowly; the target is a
real docker-registry, whose storage shows any upload session left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clihelpers import ref

pytestmark = pytest.mark.integration

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
LAYER_BYTES = 24 * 1024 * 1024


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _seed_big_image(fake, repo: str, tag: str) -> str:
    """An amd64 image with one large layer; returns the layer's digest."""
    layer = os.urandom(LAYER_BYTES)
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {}}).encode()
    fake.put_blob(repo, layer)
    fake.put_blob(repo, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": _digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": _digest(layer),
                "size": len(layer),
            }
        ],
    }
    fake.put_manifest(repo, tag, json.dumps(manifest, indent=3).encode(), DOCKER_MANIFEST)
    return _digest(layer)


def _open_uploads(storage: Path, repo: str) -> list[Path]:
    """Sessions distribution could resume in `repo`: cancelling one deletes its
    `startedat` and data (it leaves an empty hash state behind, which nothing resumes)."""
    return list(storage.glob(f"docker/registry/v2/repositories/{repo}/_uploads/*/startedat"))


def test_ctrl_c_during_a_copy_stops_at_once_and_leaves_no_upload_session(
    cli, registry_plain, fake_registry, repo
):
    from fakereg import drip

    layer = _seed_big_image(fake_registry, "team/big", "1.0")
    # About 5 MiB/s: the copy would take several seconds.
    fake_registry.script(("GET", rf"/blobs/{layer}$"), drip(256 * 1024, 0.05), times=None)
    target = ref(registry_plain.host, repo, "1.0")
    source = f"{fake_registry.host}/team/big:1.0"
    proc = subprocess.Popen(
        cli.command(["push", target, source]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli.env(),
    )
    try:
        # Wait until the upload has started in the target registry, then press Ctrl-C.
        deadline = time.monotonic() + 30
        while not _open_uploads(registry_plain.root, repo) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _open_uploads(registry_plain.root, repo), "the copy never started"
        time.sleep(0.3)
        pressed = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - pressed
    finally:
        proc.kill()
    assert proc.returncode == 130, err.decode()
    assert err.decode().strip().splitlines()[-1] == "manifestor: interrupted"
    assert _open_uploads(registry_plain.root, repo) == []
    assert not (
        registry_plain.root / f"docker/registry/v2/repositories/{repo}/_manifests/tags/1.0"
    ).exists()
    # Not a timing target (benchmarks hold those): a stuck run would take the whole copy.
    assert stopped_after < 5, f"took {stopped_after:.1f} s to stop"
