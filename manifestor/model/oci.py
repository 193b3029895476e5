"""Media types, descriptors and manifests kept as their exact bytes.

A manifest's identity is the sha256 of its bytes, so every manifest here carries the
bytes it was parsed from and is never re-serialised. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from manifestor.errors import (
    DigestMismatchError,
    InvalidPlatformError,
    ManifestFormatError,
    ManifestorError,
    ManifestTooLargeError,
    SourceContentError,
)
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
# The largest blob size a descriptor may state: 2**53 - 1, the largest integer every JSON
# reader (Go's, JavaScript's) keeps exact. Far beyond any real layer.
MAX_BLOB_SIZE = 2**53 - 1
# Descriptors, annotations and URLs per manifest are bounded by the 4 MiB cap already;
# these bound what one field may hold.
MAX_URLS = 64
MAX_STRING_CHARS = 64 * 1024

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


def load_json(
    raw: bytes | str, what: str, error: type[ManifestorError] = ManifestFormatError
) -> Any:
    """JSON from outside, as UTF-8 text; every way it can be malformed (bad bytes, bad
    syntax, nesting deep enough to exhaust the stack, a number too long to convert)
    becomes `error` naming `what`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise error(f"{what}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:100]
        raise error(f"{what}: not valid JSON ({reason})") from None


def json_size(value: object, what: str) -> int:
    """A size from JSON: an integer (not a bool, not a float), 0 <= size <= MAX_BLOB_SIZE."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestFormatError(f"{what}: size must be an integer, not {_kind(value)}")
    if not 0 <= value <= MAX_BLOB_SIZE:
        raise ManifestFormatError(f"{what}: size {_short(value)} is out of range")
    return value


def json_string_map(value: object, what: str) -> dict[str, str]:
    """An `annotations`-like object: string keys, string values."""
    if not isinstance(value, Mapping):
        raise ManifestFormatError(f"{what} must be an object, not {_kind(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise ManifestFormatError(f"{what}[{_short(key)}] must be a string, not {_kind(item)}")
    return dict(value)


def _kind(value: object) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _short(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _string(obj: Mapping[str, Any], key: str, what: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ManifestFormatError(f"{what}: {key} must be a non-empty string")
    if len(value) > MAX_STRING_CHARS:
        raise ManifestFormatError(f"{what}: {key} is too long")
    return value


def verified_chunks(
    chunks: Iterable[bytes], digest: str, size: int | None, source: str
) -> Iterator[bytes]:
    """Pass a blob's chunks through, counting bytes and hashing as they go. It stops
    before passing on a byte past `size`, and before passing on the last chunk when the
    content is short or does not hash to `digest`, so a receiver never gets a body that
    differs from the descriptor. Errors blame `source`."""
    if not _SHA256.fullmatch(digest):
        raise DigestMismatchError(f"{source}: cannot verify unsupported digest {digest!r}")
    hasher = hashlib.sha256()
    count = 0
    held: bytes | None = None  # one chunk is held back until the next proves more comes
    for chunk in chunks:
        if not chunk:
            continue
        count += len(chunk)
        if size is not None and count > size:
            raise SourceContentError(
                f"{source} sent more than the {size} bytes its descriptor states "
                f"(at least {count}); stopped before passing them on"
            )
        hasher.update(chunk)
        if held is not None:
            yield held
        held = chunk
    if size is not None and count != size:
        raise SourceContentError(
            f"{source} ended after {count} of the {size} bytes its descriptor states"
        )
    actual = "sha256:" + hasher.hexdigest()
    if actual != digest:
        raise SourceContentError(f"{source}: content hashes to {actual}, not {digest}")
    if held is not None:
        yield held


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
    def from_json(cls, obj: object, what: str = "descriptor") -> Descriptor:
        """A descriptor from outside, every field's type checked: a size is a bounded
        non-negative integer, a digest well-formed, urls a list of strings, annotations
        an object of strings, platform an object."""
        if not isinstance(obj, Mapping):
            raise ManifestFormatError(f"{what}: a descriptor must be an object, not {_kind(obj)}")
        media_type = _string(obj, "mediaType", what, required=True)
        digest = _string(obj, "digest", what, required=True)
        assert media_type is not None and digest is not None
        if "size" not in obj:
            raise ManifestFormatError(f"{what}: size is missing")
        size = json_size(obj["size"], what)
        if not _DIGEST.fullmatch(digest):
            # Digests end up in request paths and file names: nothing else gets through.
            raise ManifestFormatError(f"{what}: invalid digest {digest[:80]!r}")
        platform = obj.get("platform")
        if platform is not None and not isinstance(platform, Mapping):
            raise ManifestFormatError(f"{what}: platform must be an object, not {_kind(platform)}")
        annotations = obj.get("annotations")
        urls = obj.get("urls")
        if urls is not None and (
            not isinstance(urls, list)
            or len(urls) > MAX_URLS
            or not all(isinstance(u, str) and len(u) <= MAX_STRING_CHARS for u in urls)
        ):
            raise ManifestFormatError(f"{what}: urls must be a list of strings")
        try:
            parsed_platform = Platform.from_json(platform) if platform is not None else None
        except InvalidPlatformError as exc:
            raise ManifestFormatError(f"{what}: {exc}") from None
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            platform=parsed_platform,
            annotations=(
                json_string_map(annotations, f"{what}: annotations")
                if annotations is not None
                else None
            ),
            artifact_type=_string(obj, "artifactType", what, required=False),
            urls=tuple(urls or ()),
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
        return tuple(
            Descriptor.from_json(d, f"layer {i}") for i, d in enumerate(_list(self.body, "layers"))
        )

    @property
    def children(self) -> tuple[Descriptor, ...]:
        """The entries of a list (empty for an image manifest)."""
        if not self.is_list:
            return ()
        return tuple(
            Descriptor.from_json(d, f"list entry {i}")
            for i, d in enumerate(_list(self.body, "manifests"))
        )

    @property
    def annotations(self) -> Mapping[str, str]:
        value = self.body.get("annotations")
        return {} if value is None else json_string_map(value, "annotations")

    def blobs(self) -> tuple[Descriptor, ...]:
        """Config first, then layers: what a copy of this image must carry across."""
        return (self.config, *self.layers)

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, platform)


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestFormatError(f"{key} must be a list, not {_kind(value)}")
    return value


def parse_manifest(raw: bytes, content_type: str | None = None, what: str = "manifest") -> Manifest:
    """Parse manifest bytes, deciding the media type from the body and the header. Every
    descriptor in it is checked here, at the border, so later reads cannot fail."""
    check_manifest_size(len(raw), what)
    body = load_json(raw, what)
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
    manifest = Manifest(raw=raw, media_type=media_type, body=body)
    try:
        if manifest.is_list:
            manifest.children  # noqa: B018 - validation
        else:
            if "config" not in body:
                raise ManifestFormatError("an image manifest needs a config")
            manifest.blobs()
        manifest.annotations  # noqa: B018 - validation
    except ManifestFormatError as exc:
        raise ManifestFormatError(f"{what}: {exc}") from None
    return manifest


def _guess_media_type(body: Mapping[str, Any], header_type: str) -> str:
    # OCI made mediaType optional; fall back to the header, then to the shape.
    if header_type in MANIFEST_MEDIA_TYPES:
        return header_type
    if "manifests" in body:
        return OCI_INDEX
    if "config" in body:
        return OCI_MANIFEST
    return header_type or "unknown"
