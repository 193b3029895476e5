"""Media types, descriptors and manifests kept as their exact bytes.

A manifest's identity is the sha256 of its bytes, so every manifest here carries the
bytes it was parsed from and is never re-serialised. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from manifestor.errors import DigestMismatchError, ManifestFormatError, ManifestTooLargeError
from manifestor.model.platform import Platform

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

# Order matters only for readability; it is sent as one comma-joined Accept header.
MANIFEST_MEDIA_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
LIST_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_MEDIA_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})

# distribution refuses manifest bodies over 4 MiB; reading more is a memory risk.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128}")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, expected: str, what: str) -> None:
    """Raise DigestMismatchError unless `data` hashes to `expected`."""
    if not _SHA256.fullmatch(expected):
        raise DigestMismatchError(f"{what}: cannot verify unsupported digest {expected!r}")
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatchError(f"{what}: content digest {actual} does not match {expected}")


def check_manifest_size(size: int, what: str) -> None:
    if size > MAX_MANIFEST_BYTES:
        raise ManifestTooLargeError(
            f"{what}: manifest of {size} bytes exceeds the {MAX_MANIFEST_BYTES} byte limit"
        )


def strip_media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a list entry, a config or a layer points at."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] | None = None
    artifact_type: str | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], what: str = "descriptor") -> Descriptor:
        try:
            media_type = str(obj["mediaType"])
            digest = str(obj["digest"])
            size = int(obj["size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestFormatError(f"{what}: malformed descriptor ({exc!s})") from None
        if not _DIGEST.fullmatch(digest):
            # Digests end up in request paths and file names: nothing else gets through.
            raise ManifestFormatError(f"{what}: invalid digest {digest[:80]!r}")
        platform = obj.get("platform")
        annotations = obj.get("annotations")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            platform=Platform.from_json(platform) if isinstance(platform, Mapping) else None,
            annotations=dict(annotations) if isinstance(annotations, Mapping) else None,
            artifact_type=obj.get("artifactType"),
            urls=tuple(obj.get("urls") or ()),
        )

    def to_ocispec_json(self) -> dict[str, Any]:
        """Keys in Go's ocispec.Descriptor field order (map keys sorted, as Go does): how
        docker writes a descriptor into its store and its verbose inspect output."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def to_json(self) -> dict[str, Any]:
        """Keys in the order a manifest list's entries have them (docker, buildkit)."""
        out: dict[str, Any] = {"mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["size"] = self.size
        out["digest"] = self.digest
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


@dataclass(frozen=True)
class Manifest:
    """An image manifest or a list, with the exact bytes it was read from."""

    raw: bytes
    media_type: str
    body: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def digest(self) -> str:
        return sha256_digest(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_MEDIA_TYPES

    @property
    def config(self) -> Descriptor:
        if self.is_list:
            raise ManifestFormatError(f"{self.digest} is a list, not an image manifest")
        return Descriptor.from_json(self.body.get("config") or {}, "manifest config")

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return tuple(Descriptor.from_json(d, "layer") for d in self.body.get("layers") or ())

    @property
    def children(self) -> tuple[Descriptor, ...]:
        """The entries of a list (empty for an image manifest)."""
        if not self.is_list:
            return ()
        return tuple(
            Descriptor.from_json(d, "list entry") for d in self.body.get("manifests") or ()
        )

    @property
    def annotations(self) -> Mapping[str, str]:
        return dict(self.body.get("annotations") or {})

    def blobs(self) -> tuple[Descriptor, ...]:
        """Config first, then layers: what a copy of this image must carry across."""
        return (self.config, *self.layers)

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, platform)


def parse_manifest(raw: bytes, content_type: str | None = None, what: str = "manifest") -> Manifest:
    """Parse manifest bytes, deciding the media type from the body and the header."""
    check_manifest_size(len(raw), what)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestFormatError(f"{what}: not valid JSON ({exc.msg})") from None
    if not isinstance(body, dict):
        raise ManifestFormatError(f"{what}: not a JSON object")
    header_type = strip_media_type(content_type)
    body_type = body.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestFormatError(f"{what}: mediaType is not a string")
    if header_type in DOCKER_SCHEMA1 or body.get("schemaVersion") == 1:
        raise ManifestFormatError(
            f"{what}: Docker schema 1 manifests are not supported; re-push the image "
            "with a current client"
        )
    media_type = body_type or _guess_media_type(body, header_type)
    if body_type and header_type in MANIFEST_MEDIA_TYPES and header_type != body_type:
        raise ManifestFormatError(
            f"{what}: Content-Type {header_type} disagrees with mediaType {body_type}"
        )
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ManifestFormatError(f"{what}: unsupported manifest media type {media_type!r}")
    return Manifest(raw=raw, media_type=media_type, body=body)


def _guess_media_type(body: Mapping[str, Any], header_type: str) -> str:
    # OCI made mediaType optional; fall back to the header, then to the shape.
    if header_type in MANIFEST_MEDIA_TYPES:
        return header_type
    if "manifests" in body:
        return OCI_INDEX
    if "config" in body:
        return OCI_MANIFEST
    return header_type or "unknown"
