"""Tiny deterministic per-arch images for seeding the fake (same shape as tests/rig/images.py:
one gzipped tar layer, a config naming the platform, a schema2 or OCI manifest)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any, Literal

from .wire import sha256_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
LIST_TYPES = (DOCKER_LIST, OCI_INDEX)
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
OCI_TYPES = (OCI_INDEX, OCI_MANIFEST)
DOCKER_TYPES = (DOCKER_LIST, DOCKER_MANIFEST)

Media = Literal["docker", "oci"]


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


@dataclass(frozen=True)
class FakeImage:
    platform: dict[str, str]
    config: Blob
    layer: Blob
    manifest: Blob

    @property
    def digest(self) -> str:
        return self.manifest.digest

    def descriptor(self) -> dict[str, Any]:
        """This image's entry in a list or index."""
        return self.manifest.descriptor(platform=self.platform)


def _tar(text: str) -> bytes:
    content = text.encode()
    info = tarfile.TarInfo("hello.txt")
    info.size, info.mtime, info.mode = len(content), 0, 0o644
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def make_image(platform: str, media: Media = "docker", text: str | None = None) -> FakeImage:
    """A one-layer image for `os/arch[/variant]`; the layer text names the platform."""
    os, arch, *rest = platform.split("/")
    fields = {"architecture": arch, "os": os, **({"variant": rest[0]} if rest else {})}
    tar = _tar(text or f"fakereg layer {platform}\n")
    manifest_type, config_type, layer_type = (
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        if media == "docker"
        else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    )
    layer = Blob(layer_type, gzip.compress(tar, mtime=0))
    config_doc = {
        **fields,
        "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
    }
    config = Blob(config_type, json.dumps(config_doc, indent=3).encode())
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }
    manifest = Blob(manifest_type, json.dumps(manifest_doc, indent=3).encode())
    return FakeImage(fields, config, layer, manifest)


def make_list(children: list[FakeImage], media: Media = "docker") -> Blob:
    media_type = DOCKER_LIST if media == "docker" else OCI_INDEX
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [child.descriptor() for child in children],
    }
    return Blob(media_type, json.dumps(doc, indent=3).encode())
