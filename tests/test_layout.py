"""Images on disk: OCI layout directories, OCI archives and docker archives."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from rig.images import make_image

from manifestor.errors import SourceContentError, UsageError
from manifestor.local.layout import OCI_LAYER_TAR, open_local_images
from manifestor.model.platform import Platform

FIXTURES = Path(__file__).parent.parent / "fixtures" / "images"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _write_blob(root: Path, data: bytes) -> dict:
    path = root / "blobs" / "sha256" / _digest(data).split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": _digest(data), "size": len(data)}


def _buildx_layout(root: Path) -> dict:
    """What `buildx build --output type=oci` writes: index.json -> index -> images."""
    children = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        image = make_image("linux", arch, variant, media="oci", layer_text=f"layout {arch}")
        for blob in (image.layer, image.config):
            _write_blob(root, blob.data)
        desc = _write_blob(root, image.manifest.data)
        platform = {
            "architecture": arch,
            "os": "linux",
            **({"variant": variant} if variant else {}),
        }
        children.append({"mediaType": image.media_type, **desc, "platform": platform})
    attestation = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **_write_blob(root, b"{}"),
            },
            "layers": [],
        }
    ).encode()
    children.append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            **_write_blob(root, attestation),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        }
    )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": children,
        }
    ).encode()
    top = {"mediaType": "application/vnd.oci.image.index.v1+json", **_write_blob(root, index)}
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return {"children": children}


def test_fixture_layout_gives_one_image_whose_config_names_its_platform():
    [image] = open_local_images(FIXTURES / "linux-arm64-v8")
    assert image.platform is None  # index.json carries no platform: the config decides
    config = json.loads(image.config())
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm64", "v8")
    assert image.label.startswith("oci:")


def test_buildx_layout_is_flattened_with_descriptor_platforms(tmp_path):
    written = _buildx_layout(tmp_path)
    images = open_local_images(tmp_path)
    assert [i.manifest.digest for i in images] == [c["digest"] for c in written["children"]]
    assert images[0].platform == Platform("linux", "amd64")
    assert images[1].platform == Platform("linux", "arm64", "v8")
    assert images[2].annotations["vnd.docker.reference.type"] == "attestation-manifest"


def test_blob_bodies_stream_the_exact_bytes(tmp_path):
    shutil.copytree(FIXTURES / "linux-amd64", tmp_path / "layout")
    [image] = open_local_images(tmp_path / "layout")
    layer = image.manifest.layers[0]
    body = image.blobs.body(layer.digest, layer.size)
    assert body.size == layer.size
    assert _digest(b"".join(body.open())) == layer.digest
    assert _digest(b"".join(body.open())) == layer.digest  # re-opened for a retry


def test_a_corrupted_blob_fails_when_its_stream_ends(tmp_path):
    shutil.copytree(FIXTURES / "linux-amd64", tmp_path / "layout")
    [image] = open_local_images(tmp_path / "layout")
    layer = image.manifest.layers[0]
    path = tmp_path / "layout" / "blobs" / "sha256" / layer.digest.split(":")[1]
    path.write_bytes(path.read_bytes()[:-1] + b"X")
    with pytest.raises(SourceContentError, match="hashes to"):
        b"".join(image.blobs.body(layer.digest, layer.size).open())


def test_oci_archive_reads_like_the_directory(tmp_path):
    layout = FIXTURES / "linux-arm-v7"
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    [from_dir] = open_local_images(layout)
    [from_tar] = open_local_images(archive)
    assert from_tar.manifest.raw == from_dir.manifest.raw
    assert from_tar.config() == from_dir.config()
    layer = from_tar.manifest.layers[0]
    assert _digest(b"".join(from_tar.blobs.body(layer.digest, layer.size).open())) == layer.digest


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_docker_archive_becomes_an_oci_manifest_with_uncompressed_layers(tmp_path):
    image = make_image("linux", "s390x", layer_text="docker save")
    import gzip

    layer_tar = gzip.decompress(image.layer.data)
    config = image.config.data
    archive = tmp_path / "saved.tar"
    config_name = _digest(config).split(":")[1] + ".json"
    with tarfile.open(archive, "w") as tar:
        _add(tar, "abc123/layer.tar", layer_tar)
        _add(tar, config_name, config)
        manifest_json = [
            {"Config": config_name, "RepoTags": ["app:s390x"], "Layers": ["abc123/layer.tar"]}
        ]
        _add(tar, "manifest.json", json.dumps(manifest_json).encode())
    [saved] = open_local_images(archive)
    assert saved.manifest.config.digest == _digest(config)
    [layer] = saved.manifest.layers
    assert (layer.media_type, layer.digest, layer.size) == (
        OCI_LAYER_TAR,
        _digest(layer_tar),
        len(layer_tar),
    )
    assert "app:s390x" in saved.label
    assert b"".join(saved.blobs.body(layer.digest, layer.size).open()) == layer_tar


def test_a_directory_without_index_json_is_refused(tmp_path):
    with pytest.raises(UsageError, match="not an OCI image layout"):
        open_local_images(tmp_path)
    with pytest.raises(UsageError, match="no such"):
        open_local_images(tmp_path / "missing")
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(UsageError, match="not a readable image archive"):
        open_local_images(tmp_path / "junk.tar")
