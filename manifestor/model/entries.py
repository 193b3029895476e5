"""The entries of a list and the list's exact bytes. Pure: no requests, no files.

An entry is one child (its exact manifest bytes and platform); attestation rules say
which buildx attestations go with which images; list bytes are written the way
`docker manifest push` writes them (3-space indent, no trailing newline), so the same
entries give the same digest."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from manifestor.errors import InvalidPlatformError, ManifestFormatError, UsageError
from manifestor.model.gojson import go_json
from manifestor.model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    Descriptor,
    Manifest,
    load_json,
    parse_manifest,
)
from manifestor.model.platform import (
    Platform,
    is_attestation_platform,
    platforms_match,
    validate_platform,
)
from manifestor.model.reference import Reference

if TYPE_CHECKING:
    from manifestor.local.layout import LocalImage

T = TypeVar("T")
ListFormat = Literal["docker", "oci", "auto"]
ATTESTATION_TYPE_KEY = "vnd.docker.reference.type"
ATTESTATION_SUBJECT_KEY = "vnd.docker.reference.digest"


@dataclass(frozen=True)
class ListEntry:
    """One child of a list: where it came from, its exact bytes, its platform."""

    source: Reference
    manifest: Manifest
    platform: Platform | None
    annotations: Mapping[str, str] = field(default_factory=dict)
    # Set for an image read from disk (layout or archive); its blobs come from there.
    local: LocalImage | None = field(default=None, compare=False, repr=False)
    # True when this run read the manifest from its source repository, which proves it
    # is there: a push into that same repository need not check it again.
    fetched: bool = field(default=False, compare=False)
    # True when that read was `create`'s, recorded in the store, not this run's: the
    # registry may have lost the child since, so a refusal naming it is not transient.
    recorded: bool = field(default=False, compare=False)

    @property
    def label(self) -> str:
        """How messages name this entry's source."""
        return self.local.label if self.local is not None else str(self.source)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(
            self.manifest.media_type,
            self.manifest.digest,
            self.manifest.size,
            self.platform,
            dict(self.annotations) or None,
        )

    @property
    def is_attestation(self) -> bool:
        return is_attestation_descriptor(self.descriptor)


def is_attestation_descriptor(descriptor: Descriptor) -> bool:
    """buildx's attestation manifests: typed by annotation, or `unknown/unknown`."""
    annotations = descriptor.annotations or {}
    return annotations.get(ATTESTATION_TYPE_KEY) == "attestation-manifest" or (
        descriptor.platform is not None and is_attestation_platform(descriptor.platform)
    )


def describes(attestation: Descriptor, images: set[str]) -> bool:
    """Is this attestation about one of `images` (by digest)? One that names no subject
    goes with the images as long as there are any."""
    subject = (attestation.annotations or {}).get(ATTESTATION_SUBJECT_KEY)
    return subject in images if subject else bool(images)


@dataclass(frozen=True)
class SourceFilter:
    """Which children of a source list to take. Every platform must be one that can
    exist: a filter for `linux/banana` is a mistake, not a filter that selects nothing."""

    platforms: tuple[Platform, ...] = ()
    keep_attestations: bool = False

    def __post_init__(self) -> None:
        for platform in self.platforms:
            try:
                validate_platform(platform)
            except InvalidPlatformError as exc:
                raise InvalidPlatformError(f"--platform: {exc}") from None

    def wants(self, platform: Platform | None, is_attestation: bool) -> bool:
        if is_attestation:
            return self.keep_attestations
        if not self.platforms:
            return True
        return platform is not None and any(platforms_match(platform, p) for p in self.platforms)

    def check_image(self, platform: Platform, label: str) -> None:
        """A filter given with a single-image source does not pass over it in silence:
        the image is kept when the filter selects its platform, refused otherwise."""
        if self.platforms and not self.wants(platform, False):
            raise UsageError(
                f"{label} is a single image for {platform}, which --platform "
                f"{_platform_list(self.platforms)} does not select; drop the source or the filter"
            )

    def check_selected(self, found: Sequence[Platform | None]) -> None:
        """Every filter platform must select an image from some source."""
        unused = [
            wanted
            for wanted in self.platforms
            if not any(p is not None and platforms_match(p, wanted) for p in found)
        ]
        if unused:
            raise UsageError(
                f"--platform {_platform_list(unused)} selects no image from any source"
            )


def _platform_list(platforms: Iterable[Platform]) -> str:
    names: list[str] = []
    for platform in platforms:
        if str(platform) not in names:
            names.append(str(platform))
    return ",".join(names)


def platform_from_config(config: bytes, what: str) -> Platform:
    """The platform an image says it is built for (`os`, `architecture`, ...)."""
    body = load_json(config, f"{what}: image config")
    if not isinstance(body, dict):
        raise ManifestFormatError(f"{what}: image config is not a JSON object")
    # Only the platform's own keys: an error message quotes what it was given.
    keys = ("os", "architecture", "variant", "os.version", "os.features")
    return Platform.from_json({k: body[k] for k in keys if k in body})


def choose_media_type(
    descriptors: Sequence[Descriptor],
    list_format: ListFormat,
    annotations: Mapping[str, str] | None = None,
) -> str:
    """Docker list when every child is a Docker manifest and nothing needs annotations
    (what docker makes); otherwise an OCI index. `docker`/`oci` force the choice."""
    has_annotations = bool(annotations) or any(d.annotations for d in descriptors)
    if list_format == "oci":
        return OCI_INDEX
    if list_format == "docker":
        if has_annotations:
            raise UsageError("a Docker manifest list cannot carry annotations; use --format oci")
        foreign = sorted({d.media_type for d in descriptors if d.media_type != DOCKER_MANIFEST})
        if foreign:
            raise UsageError(
                "a Docker manifest list can hold only Docker image manifests, and "
                f"{'these children are' if len(foreign) > 1 else 'a child is'} "
                f"{', '.join(foreign)} (registries such as Quay refuse such a list); "
                "use --format oci or auto, which write an OCI index"
            )
        return DOCKER_LIST
    return DOCKER_LIST if docker_list_can_hold(descriptors) and not has_annotations else OCI_INDEX


def docker_list_can_hold(descriptors: Sequence[Descriptor]) -> bool:
    """A Docker manifest list's children are Docker image manifests (schema2), nothing
    else: Quay's schema refuses an OCI manifest in one."""
    return all(d.media_type == DOCKER_MANIFEST for d in descriptors)


def list_document(
    descriptors: Sequence[Descriptor],
    list_format: ListFormat = "auto",
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """The list of these children, its type chosen by `list_format`."""
    return build_list(
        descriptors, choose_media_type(descriptors, list_format, annotations), annotations
    )


def build_list(
    descriptors: Sequence[Descriptor],
    media_type: str,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """The list document, serialised like docker's `json.MarshalIndent(list, "", "   ")`."""
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [d.to_json() for d in descriptors],
    }
    if annotations:
        body["annotations"] = dict(annotations)
    return parse_manifest(go_json(body, indent="   ").encode(), media_type, "list")


def check_entries(entries: Sequence[ListEntry]) -> None:
    """What a registry would accept but a puller would trip on: no platform, a platform
    that cannot exist (`linux/amd64/v8`: podman pulls nothing for it), duplicates."""
    if not entries:
        raise UsageError("the list has no entries")
    for entry in entries:
        if entry.platform is None or not entry.platform.os or not entry.platform.architecture:
            raise UsageError(
                f"manifest {entry.label} must have an OS and Architecture to be pushed; "
                "set them with `manifestor annotate`"
            )
        if not entry.is_attestation:
            try:
                validate_platform(entry.platform)
            except InvalidPlatformError as exc:
                raise InvalidPlatformError(f"{entry.label}: {exc}") from None
    images = [(e.platform, e) for e in entries if e.platform and not e.is_attestation]
    for platform, first, second in same_platform_pairs(images):
        raise UsageError(
            f"two entries for platform {platform}: {first.label} and "
            f"{second.label}; drop one, or correct its platform"
        )


def same_platform_pairs(items: Sequence[tuple[Platform, T]]) -> Iterator[tuple[Platform, T, T]]:
    """Pairs of items a puller could not tell apart: the same platform (arm64 is
    arm64/v8) and the same os.version."""
    for i, (platform, first) in enumerate(items):
        for other, second in items[i + 1 :]:
            if platforms_match(platform, other) and platform.os_version == other.os_version:
                yield platform, first, second
