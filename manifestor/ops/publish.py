"""Make a list's children present in the target repository, then PUT the list.

Children already in the target repository are checked by HEAD (a missing one is named
before anything is written). Other children are brought in first: each blob is checked
by HEAD, then mounted across repositories on the same registry, else streamed across
(from another registry or from disk, constant memory), and the child manifest is PUT by
digest. The list is PUT last — under its tag and any extra tags — so a failure never
leaves a tag pointing at absent children."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from manifestor.errors import (
    ManifestBlobUnknownError,
    ManifestInvalidError,
    MissingChildError,
    ReadBackError,
    TagMovedError,
)
from manifestor.model.body import BodySource
from manifestor.model.entries import (
    ListEntry,
    ListFormat,
    build_list,
    check_entries,
    docker_list_can_hold,
    list_document,
)
from manifestor.model.oci import DOCKER_LIST, OCI_INDEX, Descriptor, Manifest
from manifestor.model.reference import Reference
from manifestor.ops.events import Notify, Progress
from manifestor.remote.client import ManifestInfo, RegistryClient


class _Any:
    """No expectation about the tag's current digest."""


ANY = _Any()


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
    tags: tuple[Reference, ...] = ()
    unchanged: bool = False
    entries: tuple[Descriptor, ...] = ()  # the list's children, as written (or found)


def push_list(
    client: RegistryClient,
    target: Reference,
    entries: Sequence[ListEntry],
    *,
    list_format: ListFormat = "auto",
    annotations: Mapping[str, str] | None = None,
    extra_tags: Sequence[Reference] = (),
    notify: Notify | None = None,
    warn: Notify | None = None,
    progress: Progress | None = None,
    expect_current: str | None | _Any = ANY,
    current: Sequence[ManifestInfo | None] | None = None,
    before_write: Callable[[], None] | None = None,
) -> PushResult:
    """Publish `entries` as one list at `target` (its tag, or its digest), then under
    each of `extra_tags` (same bytes), and read the tag back.

    Tags that already hold exactly this list are left alone; when all do, nothing is
    written and the result says `unchanged`. With `expect_current` (a digest, or None for
    "no such tag"), the push stops with TagMovedError if the tag holds something else
    just before the list is written: the compare step of a compare-and-swap. `current`
    is what a HEAD of the target and each extra tag just gave, when the caller has it.
    `notify` hears of each child brought in, `warn` of a list-type fallback.
    `before_write` runs once it is known that something will be written, before the
    first write: a last check that costs requests an unchanged re-run need not make."""
    check_entries(entries)
    descriptors = [e.descriptor for e in entries]
    document = list_document(descriptors, list_format, annotations)
    accepted = equivalent_digests(document, descriptors, list_format, annotations)
    destinations = [_list_destination(t, document) for t in (target, *extra_tags)]
    if current is None or len(current) != len(destinations):
        current = [client.head_manifest(d) for d in destinations]
    _check_expected(destinations[0], current[0], expect_current)
    stale = [
        d
        for d, info in zip(destinations, current, strict=True)
        if info is None or info.digest not in accepted
    ]
    if not stale:
        held = current[0]
        assert held is not None
        return PushResult(
            destinations[0],
            held.digest,
            held.media_type,
            (),
            tuple(destinations),
            unchanged=True,
            entries=tuple(descriptors),
        )
    if before_write is not None:
        before_write()
    _check_present(client, target, [e for e in entries if _in_target(e, target) and not e.fetched])
    brought = _unique([e for e in entries if not _in_target(e, target)])
    copied = client.jobs.map(lambda e: _bring_child(client, target, e, notify, progress), brought)
    if not isinstance(expect_current, _Any):
        _check_expected(destinations[0], client.head_manifest(destinations[0]), expect_current)
    try:
        document, confirmed = _put_list(
            client, stale, document, descriptors, list_format, annotations, warn
        )
    except ManifestBlobUnknownError as refused:
        raise _name_missing_children(refused, entries) from None
    if not confirmed:
        # The registry's reply did not name what it stored: read the tag back.
        _read_back(client, _list_destination(stale[0], document), document)
    final = tuple(_list_destination(d, document) for d in destinations)
    return PushResult(
        final[0],
        document.digest,
        document.media_type,
        tuple(copied),
        final,
        entries=tuple(descriptors),
    )


def equivalent_digests(
    document: Manifest,
    descriptors: Sequence[Descriptor],
    list_format: ListFormat,
    annotations: Mapping[str, str] | None,
) -> set[str]:
    """Digests a tag may hold for this list to count as already published: the list
    itself, and with --format auto its lossless other type (what a registry that refused
    the first type was given on an earlier run)."""
    alternative = _lossless_alternative(document, descriptors, list_format, annotations)
    return {document.digest} | ({alternative.digest} if alternative else set())


def _check_expected(tag: Reference, info: ManifestInfo | None, expected: str | None | _Any) -> None:
    if isinstance(expected, _Any):
        return
    found = info.digest if info else None
    if found != expected:
        raise TagMovedError(
            f"{tag} changed while this push was being prepared "
            f"(expected {expected or 'no tag'}, found {found or 'no tag'})"
        )


def _put_list(
    client: RegistryClient,
    destinations: Sequence[Reference],
    document: Manifest,
    descriptors: Sequence[Descriptor],
    list_format: ListFormat,
    annotations: Mapping[str, str] | None,
    notify: Notify | None,
) -> tuple[Manifest, bool]:
    """PUT the list to each destination. With --format auto, a registry that refuses
    this list type (MANIFEST_INVALID) gets the other type once, when nothing is lost.
    Returns the list written, and whether the registry confirmed its digest for the
    first destination (Docker-Content-Digest in the reply proves what it stored)."""
    try:
        receipt = client.put_manifest(destinations[0], document)
    except ManifestInvalidError:
        other = _lossless_alternative(document, descriptors, list_format, annotations)
        if other is None:
            raise
        if notify:
            notify(
                f"{destinations[0].name} refused a list of type {document.media_type}; "
                f"pushing it as {other.media_type} instead"
            )
        document = other
        receipt = client.put_manifest(_list_destination(destinations[0], document), document)
    for destination in destinations[1:]:
        client.put_manifest(_list_destination(destination, document), document)
    return document, receipt.confirmed


def _lossless_alternative(
    document: Manifest,
    descriptors: Sequence[Descriptor],
    list_format: ListFormat,
    annotations: Mapping[str, str] | None,
) -> Manifest | None:
    if list_format != "auto":
        return None
    if document.media_type == DOCKER_LIST:
        return build_list(descriptors, OCI_INDEX, annotations)
    if annotations or any(d.annotations or d.artifact_type for d in descriptors):
        return None  # a Docker list cannot carry them
    if not docker_list_can_hold(descriptors):
        return None
    return build_list(descriptors, DOCKER_LIST, None)


def _name_missing_children(
    refused: ManifestBlobUnknownError, entries: Sequence[ListEntry]
) -> ManifestBlobUnknownError:
    """The registry named a child it lacks by digest; say which entry that is (a child
    read by `create` that has been deleted from the repository since, say)."""
    named = [e for e in entries if e.manifest.digest in str(refused)]
    if not named:
        return refused
    which = ", ".join(f"{e.manifest.digest} ({e.label})" for e in named)
    return ManifestBlobUnknownError(
        f"{refused}; missing from the target repository: {which}; nothing was published "
        "under the tag",
        status=refused.status,
        errors=refused.errors,
    )


def _read_back(client: RegistryClient, tag: Reference, document: Manifest) -> None:
    """One request: the tag must now resolve to the list just pushed."""
    info = client.head_manifest(tag)
    found = info.digest if info else None
    if found != document.digest:
        raise ReadBackError(
            f"read-back of {tag} gives {found or 'nothing'}, not the pushed {document.digest}; "
            "another writer may have moved the tag"
        )


def plan_steps(
    client: RegistryClient,
    target: Reference,
    entries: Sequence[ListEntry],
    document: Manifest,
    tags: Sequence[Reference],
) -> list[str]:
    """The requests a push would make, found out with reads (HEAD) only: a dry run."""
    steps: list[str] = []
    for entry in _unique(entries):
        at_target = target.at_digest(entry.manifest.digest)
        there = client.head_manifest(at_target) is not None
        if _in_target(entry, target):
            state = "present" if there else "MISSING: the push would fail"
            steps.append(f"check  {at_target} ({entry.label}): {state}")
            continue
        if there:
            steps.append(f"skip   {at_target} ({entry.label}): already in {target.name}")
            continue
        for blob in entry.manifest.blobs():
            steps.append("       " + _blob_plan(client, entry, target, blob))
        steps.append(f"put    {at_target} ({entry.label}, {entry.manifest.size} bytes)")
    for tag in tags:
        steps.append(
            f"put    {_list_destination(tag, document)} ({document.media_type}, "
            f"{document.size} bytes, {document.digest})"
        )
    return steps


def _blob_plan(
    client: RegistryClient, entry: ListEntry, target: Reference, blob: Descriptor
) -> str:
    if blob.urls:
        return f"skip   blob {blob.digest}: foreign layer, pulled from its URLs"
    if client.blob_exists(target, blob.digest):
        return f"skip   blob {blob.digest}: already in {target.name}"
    if entry.local is not None:
        return f"upload blob {blob.digest} ({blob.size} bytes) from {entry.local.label}"
    if entry.source.registry == target.registry:
        return f"mount  blob {blob.digest} from {entry.source.path} (copy if refused)"
    return f"copy   blob {blob.digest} ({blob.size} bytes) from {entry.source.name}"


def _list_destination(target: Reference, document: Manifest) -> Reference:
    if target.tag:
        return Reference(target.domain, target.path, target.tag, None)
    return target.at_digest(document.digest)


def _check_present(client: RegistryClient, target: Reference, entries: Sequence[ListEntry]) -> None:
    unique = _unique(entries)
    found = client.jobs.map(
        lambda e: client.head_manifest(target.at_digest(e.manifest.digest)), unique
    )
    missing = [e for e, info in zip(unique, found, strict=True) if info is None]
    if missing:
        names = ", ".join(f"{e.label} ({e.manifest.digest})" for e in missing)
        raise MissingChildError(
            f"{len(missing)} child manifest(s) missing from {target.name}: {names}; "
            "push the per-arch image(s) first"
        )


def _bring_child(
    client: RegistryClient,
    target: Reference,
    entry: ListEntry,
    notify: Notify | None,
    progress: Progress | None,
) -> PushedChild:
    at_target = target.at_digest(entry.manifest.digest)
    if client.head_manifest(at_target) is None:
        blobs = list(entry.manifest.blobs())
        client.jobs.map(lambda blob: _bring_blob(client, entry, target, blob, progress), blobs)
        client.put_manifest(at_target, entry.manifest)
    if notify:
        notify(
            f"Pushed ref {target.name}@{entry.manifest.digest} with digest: {entry.manifest.digest}"
        )
    return PushedChild(at_target, entry.manifest.digest)


def _bring_blob(
    client: RegistryClient,
    entry: ListEntry,
    target: Reference,
    blob: Descriptor,
    progress: Progress | None,
) -> None:
    if blob.urls:
        return  # foreign (non-distributable) layers are fetched from their URLs, not the registry
    if client.blob_exists(target, blob.digest):
        return
    source = entry.source
    if entry.local is not None:
        body = entry.local.blobs.body(blob.digest, blob.size)
    elif source.registry == target.registry and client.mount_blob(target, blob.digest, source):
        return
    else:
        body = client.blob_body(source, blob.digest, blob.size)
    if progress is not None:
        body = _tracked(body, progress, f"{blob.digest[7:19]} {entry.label}")
    client.upload_blob(target, blob.digest, body)


def _tracked(body: BodySource, progress: Progress, label: str) -> BodySource:
    """The same body, reporting bytes sent; a retry starts the count again."""

    def chunks() -> Iterator[bytes]:
        task = progress.start(label, body.size)
        sent = 0
        try:
            for chunk in body.chunks():
                sent += len(chunk)
                progress.update(task, sent)
                yield chunk
        finally:
            progress.finish(task)

    return BodySource(chunks, body.size)


def _in_target(entry: ListEntry, target: Reference) -> bool:
    return (
        entry.local is None
        and entry.source.registry == target.registry
        and entry.source.path == target.path
    )


def _unique(entries: Sequence[ListEntry]) -> list[ListEntry]:
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.manifest.digest not in seen:
            seen.add(entry.manifest.digest)
            out.append(entry)
    return out
