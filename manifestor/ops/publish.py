"""Make a list's children present in the target repository, then PUT the list.

Children already in the target repository are checked by HEAD (a missing one is named
before anything is written). Other children are brought in first: each blob is checked
by HEAD, then mounted across repositories on the same registry, else streamed across
(from another registry or from disk, constant memory), and the child manifest is PUT by
digest, subjects before the manifests that refer to them. The list is PUT last — under
its tag and any extra tags — so a failure never leaves a tag pointing at absent children.

Hosted registries answer a list PUT in their own ways: a refusal of the list type gets
the other type once, but a refusal about missing children never does; a child that a
geo-replicated registry does not see yet (ACR) gets a short, bounded wait."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from manifestor.errors import (
    InvalidReferenceError,
    ManifestBlobUnknownError,
    ManifestInvalidError,
    MissingChildError,
    ReadBackError,
    RegistryError,
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
from manifestor.model.oci import DOCKER_LIST, MANIFEST_MEDIA_TYPES, OCI_INDEX, Descriptor, Manifest
from manifestor.model.reference import Reference
from manifestor.ops.events import Notify, Progress
from manifestor.ops.options import PublishOptions
from manifestor.remote.client import ManifestInfo, PutReceipt, RegistryClient

_DIGEST_IN_TEXT = re.compile(r"sha256:[a-f0-9]{64}")


class _Any:
    """No expectation about the tag's current digest."""


ANY = _Any()

# Waits before re-trying a list PUT that a registry answered MANIFEST_BLOB_UNKNOWN although
# every child was confirmed present in this run (ACR geo-replication catching up).
CHILD_SETTLE_DELAYS = (0.5, 1.0, 2.0)
# Words of a MANIFEST_INVALID that is about the list's media type, not its children.
_TYPE_WORDS = (
    "is not one of",
    "schema version not supported",
    "manifest media type",
    "mediatype",
    "media type not",
    *MANIFEST_MEDIA_TYPES,
)


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
    """`publish_entries` with the options as keywords: the public API's form
    (`manifestor.push_list`)."""
    options = PublishOptions(
        list_format, annotations or {}, tuple(extra_tags), notify, warn, progress
    )
    return publish_entries(
        client,
        target,
        entries,
        options,
        expect_current=expect_current,
        current=current,
        before_write=before_write,
    )


def publish_entries(
    client: RegistryClient,
    target: Reference,
    entries: Sequence[ListEntry],
    options: PublishOptions,
    *,
    expect_current: str | None | _Any = ANY,
    current: Sequence[ManifestInfo | None] | None = None,
    before_write: Callable[[], None] | None = None,
) -> PushResult:
    """Publish `entries` as one list at `target` (its tag, or its digest), then under
    each of the options' `extra_tags` (same bytes), and read the tag back.

    Tags that already hold exactly this list are left alone; when all do, nothing is
    written and the result says `unchanged`. With `expect_current` (a digest, or None for
    "no such tag"), the push stops with TagMovedError if the tag holds something else
    just before the list is written: the compare step of a compare-and-swap. `current`
    is what a HEAD of the target and each extra tag just gave, when the caller has it.
    `notify` hears of each child brought in, `warn` of a list-type fallback.
    `before_write` runs once it is known that something will be written, before the
    first write: a last check that costs requests an unchanged re-run need not make."""
    check_target_name(target)
    check_entries(entries)
    descriptors = [e.descriptor for e in entries]
    document = list_document(descriptors, options.list_format, options.annotations)
    accepted = equivalent_digests(document, descriptors, options.list_format, options.annotations)
    destinations = [_list_destination(t, document) for t in (target, *options.extra_tags)]
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
    copied = _bring_children(client, target, brought, options)
    if not isinstance(expect_current, _Any):
        _check_expected(destinations[0], client.head_manifest(destinations[0]), expect_current)
    held_types = {str(d): i.media_type for d, i in zip(destinations, current, strict=True) if i}
    try:
        # Every child proven present by this run (not only by an earlier `create`): a
        # refusal naming one is a registry catching up (ACR), worth a short wait.
        settle = not any(e.recorded for e in entries)
        document, confirmed = _put_list(client, stale, document, descriptors, options, settle)
    except ManifestInvalidError as refused:
        raise _with_type_lock_hint(refused, held_types, document) from refused
    except MissingChildError as missing:
        raise _name_missing_children(missing, entries) from None
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
    options: PublishOptions,
    settle: bool = True,
) -> tuple[Manifest, bool]:
    """PUT the list to each destination. Every child was confirmed present in the target
    repository before this. With --format auto, a registry that refuses this list type
    (MANIFEST_INVALID or 415 about the type, not about children) gets the other type
    once, when nothing is lost. Returns the list written, and whether the registry
    confirmed its digest for the first destination (Docker-Content-Digest in its reply
    proves what it stored)."""
    first = destinations[0]
    try:
        receipt = _put_settling(client, first, document, options.warn, settle)
    except ManifestInvalidError as refused:
        other = _lossless_alternative(
            document, descriptors, options.list_format, options.annotations
        )
        if other is None or not _about_list_type(client, first, document, refused):
            raise
        if options.warn:
            options.warn(
                f"{first.name} refused a list of type {document.media_type}; "
                f"pushing it as {other.media_type} instead"
            )
        refused_type, document = document.media_type, other
        try:
            receipt = _put_settling(
                client, _list_destination(first, document), document, options.warn, settle
            )
        except ManifestInvalidError as again:
            raise ManifestInvalidError(
                f"{again}; as {refused_type} it was refused with: {_registry_words(refused)}",
                status=again.status,
                errors=again.errors,
            ) from refused
    for destination in destinations[1:]:
        client.put_manifest(_list_destination(destination, document), document)
    return document, receipt.confirmed


def _put_settling(
    client: RegistryClient,
    destination: Reference,
    document: Manifest,
    notify: Notify | None,
    settle: bool = True,
) -> PutReceipt:
    """PUT a list whose children were all confirmed present in this run. A registry that
    still answers MANIFEST_BLOB_UNKNOWN naming only those children (a geo-replicated ACR
    whose replicas have not caught up) is asked again a few times; anything else is a
    child that really is missing, and is never retried."""
    children = {d.digest for d in document.children}
    for delay in (*CHILD_SETTLE_DELAYS, None) if settle else (None,):
        try:
            return client.put_manifest(destination, document)
        except ManifestBlobUnknownError as refused:
            named = _named_digests(refused)
            settling = named <= children
            if delay is None or not settling:
                missing = named or children
                raise _missing_children(
                    destination, missing, refused, settling and settle
                ) from refused
            if notify:
                notify(
                    f"{destination.name} does not see child manifest(s) pushed moments ago "
                    f"yet; trying the list again in {delay:g} s"
                )
            time.sleep(delay)
    raise AssertionError("unreachable: the last delay is None")  # pragma: no cover


def _about_list_type(
    client: RegistryClient, destination: Reference, document: Manifest, refused: RegistryError
) -> bool:
    """True when a refusal is about the list's media type. Quay reports children missing
    from the repository as MANIFEST_INVALID too: such a refusal raises MissingChildError,
    since the other list type would be refused for the same reason."""
    children = {d.digest for d in document.children}
    named = _named_digests(refused) & children
    if named:
        raise _missing_children(destination, named, refused, False) from refused
    text = _registry_words(refused).lower()
    if refused.status == 415 or any(word in text for word in _TYPE_WORDS):
        return True
    # The words say neither: look, with HEADs (free even on Docker Hub).
    missing = {d for d in children if client.head_manifest(destination.at_digest(d)) is None}
    if missing:
        raise _missing_children(destination, missing, refused, False) from refused
    return True


def _missing_children(
    destination: Reference, digests: Iterable[str], refused: RegistryError, settled: bool
) -> MissingChildError:
    names = ", ".join(sorted(digests))
    message = (
        f"child manifest {names} not present in target repository {destination.name}: "
        f"the registry refused the list ({_registry_words(refused)})"
    )
    if settled:
        message += (
            "; this run confirmed the children present and waited for the registry to see "
            "them: a geo-replicated registry (ACR) may still be replicating, so retry later "
            "or push through one replica's endpoint (<registry>.<region>.geo.azurecr.io)"
        )
    return MissingChildError(message)


def _named_digests(error: RegistryError) -> set[str]:
    """The digests a registry's error names (in its messages and details)."""
    text = _registry_words(error) + " " + " ".join(str(e.detail) for e in error.errors)
    return set(_DIGEST_IN_TEXT.findall(text))


def _registry_words(error: RegistryError) -> str:
    said = "; ".join(
        e.message + (f" ({e.detail})" if isinstance(e.detail, str) else "")
        for e in error.errors
        if e.message or e.detail
    )
    return said or str(error)


def _with_type_lock_hint(
    refused: ManifestInvalidError, held: Mapping[str, str], document: Manifest
) -> ManifestInvalidError:
    """A tag that holds another media type may be what the registry refuses (Zot before
    2025-03 cannot change a tag's media type): say so, with the way out."""
    others = {tag: media for tag, media in held.items() if media != document.media_type}
    if not others:
        return refused
    tag, media = next(iter(others.items()))
    return ManifestInvalidError(
        f"{refused}; {tag} now holds a manifest of type {media}: if this registry cannot "
        "change the media type of an existing tag, delete the tag first",
        status=refused.status,
        errors=refused.errors,
    )


def check_target_name(target: Reference) -> None:
    """Names a registry is known to refuse, refused before any request: Docker Hub
    repositories are exactly NAMESPACE/NAME."""
    if target.is_docker_hub and target.path.count("/") != 1:
        raise InvalidReferenceError(
            f"{target.name}: Docker Hub repositories are NAMESPACE/NAME (two path "
            f"components), not {target.path.count('/') + 1}"
        )


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
    missing: MissingChildError, entries: Sequence[ListEntry]
) -> MissingChildError:
    """Say which entry each missing child is (a child `create` read that has been deleted
    from the repository since, say): the registry names children by digest only."""
    named = [e for e in entries if e.manifest.digest in str(missing)]
    if not named:
        return missing
    which = ", ".join(f"{e.manifest.digest} is {e.label}" for e in named)
    return MissingChildError(f"{missing}; missing: {which}; nothing was published under the tag")


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


def _bring_children(
    client: RegistryClient,
    target: Reference,
    brought: Sequence[ListEntry],
    options: PublishOptions,
) -> list[PushedChild]:
    """Bring children in, concurrently, but a manifest's `subject` (an attestation's
    image) before the manifest itself: GitLab refuses a subject it does not hold yet."""
    pending = list(brought)
    done: dict[str, PushedChild] = {}
    while pending:
        waiting = {e.manifest.digest for e in pending}
        ready = [e for e in pending if _subject_of(e.manifest) not in waiting]
        ready = ready or pending  # a subject cycle cannot be ordered; push as given
        pushed = client.jobs.map(lambda e: _bring_child(client, target, e, options), ready)
        done.update((child.digest, child) for child in pushed)
        pending = [e for e in pending if e.manifest.digest not in done]
    return [done[e.manifest.digest] for e in brought]


def _subject_of(manifest: Manifest) -> str | None:
    subject = manifest.body.get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def _bring_child(
    client: RegistryClient,
    target: Reference,
    entry: ListEntry,
    options: PublishOptions,
) -> PushedChild:
    at_target = target.at_digest(entry.manifest.digest)
    if client.head_manifest(at_target) is None:
        blobs = list(entry.manifest.blobs())
        client.jobs.map(
            lambda blob: _bring_blob(client, entry, target, blob, options.progress), blobs
        )
        client.put_manifest(at_target, entry.manifest)
    if options.notify:
        options.notify(
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
