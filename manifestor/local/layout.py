"""Per-arch images on disk: OCI image-layout directories and OCI-archive / docker-archive
tarballs (what `buildx build --output type=oci` and `docker save` write).

Blobs are opened lazily and streamed from the directory or the tarball for every upload
attempt, so a large layer never has to fit in memory. Everything read here is checked as
it comes in from outside: JSON types and sizes, member paths that would escape, archives
that end early, blobs whose size or digest differs from their descriptor."""

from __future__ import annotations

import hashlib
import json
import lzma
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from manifestor.errors import ArchiveError, ManifestFormatError, UsageError
from manifestor.model.body import BodySource
from manifestor.model.oci import (
    LIST_MEDIA_TYPES,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    load_json,
    parse_manifest,
    sha256_digest,
    verified_chunks,
    verify_digest,
)
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_digest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
# Configs and index files are small JSON; refuse absurd sizes rather than read them.
MAX_JSON_BYTES = 8 * 1024 * 1024
# An image archive holds a few dozen members; a million is a hostile file.
MAX_ARCHIVE_MEMBERS = 100_000
_CHUNK = 1 << 20
# What reading a broken tarball raises, by compression: truncated gzip is an EOFError.
_ARCHIVE_FAILURES = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Reading an archive (or a layout file): a broken one becomes an ArchiveError."""
    try:
        yield
    except _ARCHIVE_FAILURES as exc:
        reason = "it ends early (truncated)" if isinstance(exc, EOFError) else str(exc)
        raise ArchiveError(f"cannot read {what}: {reason[:200]}") from None


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
        with _reading(f"{location / 'index.json'}"):
            index = blobs.read_file("index.json")
        return _from_index(f"oci:{location}", blobs, index)
    if location.is_file():
        return _from_tarball(location)
    raise UsageError(f"no such OCI layout or image archive: {location}")


def _from_index(label: str, blobs: BlobReader, index_bytes: bytes) -> list[LocalImage]:
    index = _json(index_bytes, f"{label} index.json")
    entries = index.get("manifests")
    if entries is not None and not isinstance(entries, list):
        raise ManifestFormatError(f"{label} index.json: manifests must be a list")
    images: list[LocalImage] = []
    for i, raw in enumerate(entries or []):
        descriptor = Descriptor.from_json(raw, f"{label} index.json entry {i}")
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
            raise ArchiveError(f"{path} is too large to be {name}")
        return path.read_bytes()

    def _path(self, digest: str) -> Path:
        algorithm, _, hex_part = parse_digest(digest).partition(":")
        path = self.root / "blobs" / algorithm / hex_part
        if not path.is_file():
            raise UsageError(f"oci:{self.root} lacks blob {digest}")
        return path

    def read(self, digest: str) -> bytes:
        path = self._path(digest)
        with _reading(f"blob {digest} in oci:{self.root}"):
            if path.stat().st_size > MAX_JSON_BYTES:
                raise ArchiveError(f"blob {digest} in oci:{self.root} is too large to read whole")
            data = path.read_bytes()
        verify_digest(data, digest, f"blob {digest} in oci:{self.root}")
        return data

    def body(self, digest: str, size: int | None) -> BodySource:
        path = self._path(digest)
        what = f"blob {digest} in oci:{self.root}"
        with _reading(what):
            actual = path.stat().st_size
        _check_size(actual, size, what)

        def chunks() -> Iterator[bytes]:
            with _reading(what):
                yield from verified_chunks(_file_chunks(path.open("rb")), digest, actual, what)

        return BodySource(chunks, actual)


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
        what = f"blob {digest} in {self.label}"
        with _reading(what), tarfile.open(self.archive, "r:*") as tar:
            actual = tar.getmember(name).size
        _check_size(actual, size, what)

        def chunks() -> Iterator[bytes]:
            with _reading(what), tarfile.open(self.archive, "r:*") as tar:
                member = tar.extractfile(name)
                if member is None:
                    raise ArchiveError(f"{self.label}: {name} is not a file")
                yield from verified_chunks(_file_chunks(member), digest, actual, what)

        return BodySource(chunks, actual)


def _check_size(actual: int, stated: int | None, what: str) -> None:
    if stated is not None and actual != stated:
        raise ArchiveError(f"{what} is {actual} bytes, but its descriptor states {stated}")


def _file_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(_CHUNK):
            yield chunk


def _from_tarball(archive: Path) -> list[LocalImage]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            names: dict[str, str] = {}
            for count, member in enumerate(tar, 1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise ArchiveError(f"{archive} has more than {MAX_ARCHIVE_MEMBERS} members")
                if member.isfile():
                    names[_clean(member.name)] = member.name
    except EOFError:
        raise ArchiveError(f"{archive} is truncated: it ends before its last member") from None
    except _ARCHIVE_FAILURES as exc:
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
    entries = load_json(_read_member(archive, names["manifest.json"]), f"{label}: manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ManifestFormatError(f"{label}: manifest.json lists no images")
    members: dict[str, str] = {}
    images = []
    for entry in entries:
        config_name = entry.get("Config") if isinstance(entry, dict) else None
        layer_list = entry.get("Layers") if isinstance(entry, dict) else None
        tags = entry.get("RepoTags") if isinstance(entry, dict) else None
        if (
            not isinstance(config_name, str)
            or not isinstance(layer_list, list)
            or not all(isinstance(n, str) for n in layer_list)
            or not (
                tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
            )
        ):
            raise ManifestFormatError(f"{label}: malformed manifest.json entry")
        config_name, layer_names = _clean(config_name), [_clean(n) for n in layer_list]
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
        images.append((parse_manifest(raw, OCI_MANIFEST, label), ", ".join(tags or [])))
    blobs = _TarBlobs(archive, members, label)
    return [
        LocalImage(f"{label}" + (f" ({tags})" if tags else ""), manifest, None, blobs)
        for manifest, tags in images
    ]


def _clean(name: str) -> str:
    path = PurePosixPath(name)  # also turns "./blobs/x" into "blobs/x"
    if not name or "\x00" in name or path.is_absolute() or ".." in path.parts:
        raise ArchiveError(f"refusing archive member with an unsafe path: {name[:200]!r}")
    return str(path)


def _read_member(archive: Path, name: str) -> bytes:
    with _reading(f"{archive}: {name}"), tarfile.open(archive, "r:*") as tar:
        member = tar.getmember(name)
        if member.size > MAX_JSON_BYTES:
            raise ArchiveError(f"{archive}: {name} is too large to read whole")
        stream = tar.extractfile(member)
        if stream is None:
            raise ArchiveError(f"{archive}: {name} is not a file")
        data = stream.read()
    if len(data) != member.size:
        raise ArchiveError(f"{archive}: {name} is truncated")
    return data


def _hash_member(archive: Path, name: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with _reading(f"{archive}: {name}"), tarfile.open(archive, "r:*") as tar:
        stream = tar.extractfile(name)
        if stream is None:
            raise ArchiveError(f"{archive}: {name} is not a file")
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def _json(data: bytes, what: str) -> dict[str, Any]:
    value = load_json(data, what)
    if not isinstance(value, dict):
        raise ManifestFormatError(f"{what} is not a JSON object")
    return value
