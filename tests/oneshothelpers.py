"""Helpers for the one-shot `manifestor push TARGET SOURCE...` tests: read a pushed list
back raw and compare it entry by entry, see what a logging proxy saw written, and make
images on disk (OCI layouts, OCI archives, docker archives) the way build tools write them.

Used by tests/test_oneshot_*.py next to clihelpers (subprocess runner, error contract,
skopeo check)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pty
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from clihelpers import Cli, CliResult
from rig.faultproxy import FaultProxy, ProxiedRequest
from rig.images import Image, PushedImage, RigClient, make_image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")
ATTESTATION_TYPE = {"vnd.docker.reference.type": "attestation-manifest"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- running --------------------------------------------------------------------------------


def run_in(cli: Cli, cwd: Path, *args: str) -> CliResult:
    """`manifestor ARGS` as a subprocess with `cwd` as its working directory."""
    done = subprocess.run(
        cli.command(args),
        capture_output=True,
        env=cli.env(),
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(tuple(args), done.returncode, done.stdout, done.stderr.decode())


def run_on_terminal(cli: Cli, *args: str, env: Mapping[str, str]) -> tuple[int, str, str]:
    """`manifestor ARGS` with stderr on a pseudo-terminal (stdout a pipe) and exactly `env`.
    Returns (exit code, stdout, terminal text with ANSI escapes removed)."""
    leader, follower = pty.openpty()
    received: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the last writer has closed the terminal
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            cli.command(args),
            stdout=subprocess.PIPE,
            stderr=follower,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            timeout=60,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    text = b"".join(received).decode(errors="replace")
    return done.returncode, done.stdout.decode(), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def writes(proxy: FaultProxy) -> list[ProxiedRequest]:
    """Every request the proxy saw that could change the registry."""
    return [r for r in proxy.requests if r.method in WRITE_METHODS]


def query(request: ProxiedRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.query).items()}


# -- reading a pushed list back ------------------------------------------------------------


def entry(
    media_type: str,
    digest: str,
    size: int,
    platform: Mapping[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A list entry exactly as it must appear in `manifests[]`."""
    out: dict[str, Any] = {
        "mediaType": media_type,
        "digest": digest,
        "size": size,
        "platform": dict(platform),
    }
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def image_entry(
    image: PushedImage,
    platform: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The entry for a pushed per-arch image (its config's platform unless given)."""
    return entry(
        image.media_type, image.digest, image.size, platform or image.platform, annotations
    )


def assert_served_list(
    rig: RigClient,
    repo: str,
    tag: str,
    *,
    digest: str,
    media_type: str,
    manifests: Sequence[Mapping[str, Any]],
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """The registry serves, under `repo:tag`, the list with this digest and media type,
    exactly these entries in this order, and these index annotations (None: no key).
    Returns the list bytes."""
    response = rig.get_manifest(repo, tag)
    assert response.status_code == 200, f"{repo}:{tag} -> {response.status_code}"
    assert response.headers["Docker-Content-Digest"] == digest, response.headers
    assert sha256(response.content) == digest
    assert response.headers["Content-Type"] == media_type, response.headers
    body = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == media_type
    wanted = [dict(m) for m in manifests]
    assert body["manifests"] == wanted, (
        f"entries of {repo}:{tag} differ\n--- served:\n{_pretty(body['manifests'])}"
        f"\n--- expected:\n{_pretty(wanted)}"
    )
    assert body.get("annotations") == (dict(annotations) if annotations else None), body
    return response.content


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)


def tag_absent(rig: RigClient, repo: str, tag: str) -> bool:
    return rig.get_manifest(repo, tag).status_code == 404


# -- images on disk ------------------------------------------------------------------------


def layout_copy(name: str, dest: Path) -> Path:
    """A copy of the fixture layout `fixtures/images/<name>` at `dest`."""
    shutil.copytree(FIXTURES / name, dest)
    return dest


def layout_entry(layout: Path, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The list entry a single-image OCI layout must become: its manifest as written,
    with the platform its config states."""
    [top] = json.loads((layout / "index.json").read_text())["manifests"]
    manifest = _blob(layout, top["digest"])
    config = json.loads(_blob(layout, json.loads(manifest)["config"]["digest"]))
    platform = {"architecture": config["architecture"], "os": config["os"]}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    return entry(top["mediaType"], top["digest"], len(manifest), platform, annotations)


def layout_blob_digests(layout: Path) -> list[str]:
    """Config and layer digests of a single-image layout."""
    [top] = json.loads((layout / "index.json").read_text())["manifests"]
    manifest = json.loads(_blob(layout, top["digest"]))
    return [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def write_oci_archive(layout: Path, archive: Path) -> Path:
    """A tar of an OCI layout directory (what `--output type=oci,dest=x.tar` writes)."""
    with tarfile.open(archive, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    return archive


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_docker_archive(image: Image, archive: Path, *, gzipped: bool = False) -> bytes:
    """What `docker save` (before Docker 25) writes for `image`: manifest.json, the
    config as <hex>.json and the layer uncompressed as <id>/layer.tar. Returns the
    uncompressed layer."""
    layer_tar = gzip.decompress(image.layer.data)
    config_name = image.config.digest.split(":", 1)[1] + ".json"
    layer_name = hashlib.sha256(b"layer id " + layer_tar).hexdigest() + "/layer.tar"
    with tarfile.open(archive, "w:gz" if gzipped else "w") as tar:
        _add(tar, config_name, image.config.data)
        _add(tar, layer_name, layer_tar)
        saved = [{"Config": config_name, "RepoTags": ["app:saved"], "Layers": [layer_name]}]
        _add(tar, "manifest.json", json.dumps(saved).encode())
    return layer_tar


def write_buildx_layout(root: Path) -> list[dict[str, Any]]:
    """What `buildx build --output type=oci` writes for linux/amd64 + linux/arm64/v8 with
    provenance: index.json -> an index -> two images and an `unknown/unknown` attestation.
    Returns the index's entries (the list entries the images must become)."""

    def write(data: bytes) -> dict[str, Any]:
        path = root / "blobs" / "sha256" / sha256(data).split(":", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return {"digest": sha256(data), "size": len(data)}

    children = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        image = make_image("linux", arch, variant, media="oci", layer_text=f"buildx {arch}")
        for blob in (image.layer, image.config):
            write(blob.data)
        children.append(
            {
                "mediaType": image.media_type,
                **write(image.manifest.data),
                "platform": image.platform,
            }
        )
    statement = write(b'{"_type": "https://in-toto.io/Statement/v0.1"}')
    attestation = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **write(b"{}")},
            "layers": [{"mediaType": "application/vnd.in-toto+json", **statement}],
        }
    ).encode()
    children.append(
        {
            "mediaType": OCI_MANIFEST,
            **write(attestation),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                **ATTESTATION_TYPE,
                "vnd.docker.reference.digest": children[0]["digest"],
            },
        }
    )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    top = {"mediaType": OCI_INDEX, **write(index)}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return children
