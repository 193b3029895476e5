"""Make a list's children present in the target repository, then PUT the list.

Children already in the target repository are checked by HEAD (a missing one is named
before anything is written). Children from another repository get their blobs into the
target first — HEAD, then a cross-repository mount on the same registry, else a streamed
copy — and are then PUT by digest. The list is PUT last, so a failure never leaves a
list pointing at absent children."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from manifestor.assemble import ListEntry, ListFormat, build_list, choose_media_type
from manifestor.errors import ManifestorError, UsageError
from manifestor.oci import Descriptor, Manifest
from manifestor.platform import platforms_match
from manifestor.pool import map_bounded
from manifestor.reference import Reference
from manifestor.registry import RegistryClient

Notify = Callable[[str], None]


class MissingChildError(ManifestorError):
    """A child the list needs is not in the target repository."""


@dataclass(frozen=True)
class PushedChild:
    target: Reference
    digest: str


@dataclass(frozen=True)
class PushResult:
    target: Reference
    digest: str
    media_type: str
    copied_children: tuple[PushedChild, ...]


def check_entries(entries: Sequence[ListEntry]) -> None:
    """What a registry would accept but a puller would trip on: no platform, duplicates."""
    if not entries:
        raise UsageError("the list has no entries")
    for entry in entries:
        if entry.platform is None or not entry.platform.os or not entry.platform.architecture:
            raise UsageError(
                f"manifest {entry.source} must have an OS and Architecture to be pushed; "
                "set them with `manifestor annotate`"
            )
    for i, first in enumerate(entries):
        for second in entries[i + 1 :]:
            if first.is_attestation or second.is_attestation:
                continue
            assert first.platform is not None and second.platform is not None
            if platforms_match(first.platform, second.platform) and (
                first.platform.os_version == second.platform.os_version
            ):
                raise UsageError(
                    f"two entries for platform {first.platform}: {first.source} and "
                    f"{second.source}; annotate one of them or drop it"
                )


def push_list(
    client: RegistryClient,
    target: Reference,
    entries: Sequence[ListEntry],
    *,
    list_format: ListFormat = "auto",
    annotations: Mapping[str, str] | None = None,
    notify: Notify | None = None,
) -> PushResult:
    """Publish `entries` as one list at `target` (its tag, or its digest)."""
    check_entries(entries)
    media_type = choose_media_type(entries, list_format, annotations)
    document = build_list(entries, media_type, annotations)
    same_repo = [e for e in entries if _same_repo(e.source, target)]
    foreign = _unique([e for e in entries if not _same_repo(e.source, target)])
    _check_present(client, target, same_repo)
    copied = map_bounded(
        lambda e: _bring_child(client, target, e, notify), foreign, lambda e: target.registry
    )
    destination = target if target.tag else _at_digest(target, document.digest)
    if target.tag and target.digest:
        destination = Reference(target.domain, target.path, target.tag, None)
    digest = client.put_manifest(destination, document)
    return PushResult(destination, digest, media_type, tuple(copied))


def _check_present(client: RegistryClient, target: Reference, entries: Sequence[ListEntry]) -> None:
    unique = _unique(entries)
    found = map_bounded(
        lambda e: client.head_manifest(_at_digest(target, e.manifest.digest)),
        unique,
        lambda e: target.registry,
    )
    missing = [e for e, info in zip(unique, found, strict=True) if info is None]
    if missing:
        names = ", ".join(f"{e.source} ({e.manifest.digest})" for e in missing)
        raise MissingChildError(
            f"{len(missing)} child manifest(s) missing from {target.name}: {names}; "
            "push the per-arch image(s) first"
        )


def _bring_child(
    client: RegistryClient, target: Reference, entry: ListEntry, notify: Notify | None
) -> PushedChild:
    at_target = _at_digest(target, entry.manifest.digest)
    if client.head_manifest(at_target) is None:
        for blob in entry.manifest.blobs():
            _bring_blob(client, entry.source, target, blob)
        client.put_manifest(at_target, entry.manifest)
    if notify:
        notify(
            f"Pushed ref {target.name}@{entry.manifest.digest} with digest: {entry.manifest.digest}"
        )
    return PushedChild(at_target, entry.manifest.digest)


def _bring_blob(
    client: RegistryClient, source: Reference, target: Reference, blob: Descriptor
) -> None:
    if blob.urls:
        return  # foreign (non-distributable) layers are fetched from their URLs, not the registry
    if client.blob_exists(target, blob.digest):
        return
    if source.registry == target.registry and client.mount_blob(target, blob.digest, source):
        return
    client.copy_blob(source, target, blob.digest, blob.size)


def _same_repo(source: Reference, target: Reference) -> bool:
    return source.registry == target.registry and source.path == target.path


def _at_digest(ref: Reference, digest: str) -> Reference:
    return Reference(ref.domain, ref.path, None, digest)


def _unique(entries: Sequence[ListEntry]) -> list[ListEntry]:
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.manifest.digest not in seen:
            seen.add(entry.manifest.digest)
            out.append(entry)
    return out


def list_document(
    entries: Sequence[ListEntry],
    list_format: ListFormat = "auto",
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """The list that `push_list` would PUT, without any I/O."""
    return build_list(entries, choose_media_type(entries, list_format, annotations), annotations)
