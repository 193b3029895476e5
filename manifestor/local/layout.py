"""Per-arch images on disk: OCI image-layout directories and OCI-archive / docker-archive
tarballs (what `buildx build --output type=oci` and `docker save` write).

Blobs are opened lazily and streamed from the directory or the tarball for every upload
attempt, so a large layer never has to fit in memory."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from manifestor.errors import ManifestFormatError, UsageError
from manifestor.model.body import BodySource
from manifestor.model.oci import (
    LIST_MEDIA_TYPES,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    parse_manifest,
    sha256_digest,
    verify_digest,
)
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_digest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
# Configs and index files are small JSON; refuse absurd sizes rather than read them.
MAX_JSON_BYTES = 8 * 1024 * 1024
_CHUNK = 1 << 20


class BlobReader(Protocol):
    """Where a local image's blobs live."""

    def read(self, digest: str) -> bytes: ...

    def body(self, digest: str, size: int | None) -> BodySource: ...


@dataclass(frozen=True)
class LocalImage:
    """One image manifest found on disk, with the way to reach its blobs."""

    label: str
    manifest: Manifest
    platform: Platform | None
    blobs: BlobReader = field(repr=False, compare=False)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def config(self) -> bytes:
        return self.blobs.read(self.manifest.config.digest)


def open_local_images(path: str | Path) -> list[LocalImage]:
    """Every image in an OCI layout directory, an OCI archive or a docker archive."""
    location = Path(path)
    if location.is_dir():
        if not (location / "index.json").is_file():
            raise UsageError(f"{location} is not an OCI image layout (no index.json)")
        blobs = _LayoutDir(location)
        return _from_index(f"oci:{location}", blobs, blobs.read_file("index.json"))
    if location.is_file():
        return _from_tarball(location)
    raise UsageError(f"no such OCI layout or image archive: {location}")


def _from_index(label: str, blobs: BlobReader, index_bytes: bytes) -> list[LocalImage]:
    index = _json(index_bytes, f"{label} index.json")
    images: list[LocalImage] = []
    for raw in index.get("manifests") or []:
        descriptor = Descriptor.from_json(raw, f"{label} index.json entry")
        images.extend(_expand(label, blobs, descriptor, depth=0))
    if not images:
        raise UsageError(f"{label} holds no image manifests")
    return images


def _expand(label: str, blobs: BlobReader, descriptor: Descriptor, depth: int) -> list[LocalImage]:
    data = blobs.read(descriptor.digest)
    manifest = parse_manifest(data, descriptor.media_type, f"{label}@{descriptor.digest}")
    if manifest.media_type not in LIST_MEDIA_TYPES:
        return [
            LocalImage(
                label, manifest, descriptor.platform, blobs, dict(descriptor.annotations or {})
            )
        ]
    if depth >= 2:
        raise ManifestFormatError(f"{label}: indexes nested too deeply")
    return [
        image for child in manifest.children for image in _expand(label, blobs, child, depth + 1)
    ]


class _LayoutDir:
    """Blobs of an OCI layout directory: blobs/<algorithm>/<hex>."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_file(self, name: str) -> bytes:
        path = self.root / name
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ManifestFormatError(f"{path} is too large to be {name}")
        return path.read_bytes()

    def _path(self, digest: str) -> Path:
        algorithm, _, hex_part = parse_digest(digest).partition(":")
        path = self.root / "blobs" / algorithm / hex_part
        if not path.is_file():
            raise UsageError(f"oci:{self.root} lacks blob {digest}")
        return path

    def read(self, digest: str) -> bytes:
        path = self._path(digest)
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ManifestFormatError(
                f"blob {digest} in oci:{self.root} is too large to read whole"
            )
        data = path.read_bytes()
        verify_digest(data, digest, f"blob {digest} in oci:{self.root}")
        return data

    def body(self, digest: str, size: int | None) -> BodySource:
        path = self._path(digest)
        return BodySource(lambda: _hashing_chunks(path.open("rb"), digest), path.stat().st_size)


class _TarBlobs:
    """Blobs inside a tarball, found by member name; each read re-opens the tarball."""

    def __init__(self, archive: Path, members: Mapping[str, str], label: str) -> None:
        self.archive = archive
        self.members = dict(members)  # digest -> member name
        self.label = label

    def _member(self, digest: str) -> str:
        name = self.members.get(digest)
        if name is None:
            raise UsageError(f"{self.label} lacks blob {digest}")
        return name

    def read(self, digest: str) -> bytes:
        data = _read_member(self.archive, self._member(digest))
        verify_digest(data, digest, f"blob {digest} in {self.label}")
        return data

    def body(self, digest: str, size: int | None) -> BodySource:
        name = self._member(digest)

        def chunks() -> Iterator[bytes]:
            with tarfile.open(self.archive, "r:*") as tar:
                member = tar.extractfile(name)
                if member is None:
                    raise UsageError(f"{self.label}: {name} is not a file")
                yield from _hashing_chunks(member, digest)

        return BodySource(chunks, size)


def _hashing_chunks(stream: IO[bytes], digest: str) -> Iterator[bytes]:
    """Stream a file, failing at the end if it does not hash to `digest`."""
    hasher = hashlib.sha256()
    with stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
            yield chunk
    if "sha256:" + hasher.hexdigest() != digest:
        raise ManifestFormatError(f"local blob does not match its digest {digest}")


def _from_tarball(archive: Path) -> list[LocalImage]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            names = {_clean(m.name): m.name for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError) as exc:
        raise UsageError(f"{archive} is not a readable image archive ({exc})") from None
    if "index.json" in names and "oci-layout" in names:
        # An OCI archive, or a docker save from Docker 25+ (which is an OCI layout too).
        blobs = {
            "sha256:" + PurePosixPath(clean).name: name
            for clean, name in names.items()
            if clean.startswith("blobs/sha256/")
        }
        label = f"oci-archive:{archive}"
        return _from_index(
            label, _TarBlobs(archive, blobs, label), _read_member(archive, names["index.json"])
        )
    if "manifest.json" in names:
        return _from_docker_archive(archive, names)
    raise UsageError(
        f"{archive} is neither an OCI archive nor a docker-archive (no index.json or manifest.json)"
    )


def _from_docker_archive(archive: Path, names: Mapping[str, str]) -> list[LocalImage]:
    """`docker save` (before Docker 25): configs and uncompressed layer tars; each image
    becomes an OCI manifest with uncompressed layers, so nothing is recompressed."""
    label = f"docker-archive:{archive}"
    try:
        entries = json.loads(_read_member(archive, names["manifest.json"]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ManifestFormatError(f"{label}: manifest.json is not JSON") from None
    if not isinstance(entries, list) or not entries:
        raise ManifestFormatError(f"{label}: manifest.json lists no images")
    members: dict[str, str] = {}
    images = []
    for entry in entries:
        try:
            config_name, layer_names = _clean(entry["Config"]), [_clean(n) for n in entry["Layers"]]
        except (KeyError, TypeError):
            raise ManifestFormatError(f"{label}: malformed manifest.json entry") from None
        if config_name not in names:
            raise ManifestFormatError(f"{label}: missing image config {config_name}")
        config = _read_member(archive, names[config_name])
        config_digest = sha256_digest(config)
        members[config_digest] = names[config_name]
        layers = []
        for layer_name in layer_names:
            if layer_name not in names:
                raise ManifestFormatError(f"{label}: missing layer {layer_name}")
            digest, size = _hash_member(archive, names[layer_name])
            members[digest] = names[layer_name]
            layers.append({"mediaType": OCI_LAYER_TAR, "digest": digest, "size": size})
        body = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": layers,
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        images.append(
            (parse_manifest(raw, OCI_MANIFEST, label), ", ".join(entry.get("RepoTags") or []))
        )
    blobs = _TarBlobs(archive, members, label)
    return [
        LocalImage(f"{label}" + (f" ({tags})" if tags else ""), manifest, None, blobs)
        for manifest, tags in images
    ]


def _clean(name: str) -> str:
    path = PurePosixPath(name)  # also turns "./blobs/x" into "blobs/x"
    if path.is_absolute() or ".." in path.parts:
        raise UsageError(f"refusing archive member with an unsafe path: {name}")
    return str(path)


def _read_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive, "r:*") as tar:
        member = tar.getmember(name)
        if member.size > MAX_JSON_BYTES:
            raise ManifestFormatError(f"{archive}: {name} is too large to read whole")
        stream = tar.extractfile(member)
        if stream is None:
            raise ManifestFormatError(f"{archive}: {name} is not a file")
        return stream.read()


def _hash_member(archive: Path, name: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with tarfile.open(archive, "r:*") as tar:
        stream = tar.extractfile(name)
        if stream is None:
            raise ManifestFormatError(f"{archive}: {name} is not a file")
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def _json(data: bytes, what: str) -> dict:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ManifestFormatError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ManifestFormatError(f"{what} is not a JSON object")
    return value
