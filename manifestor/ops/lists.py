"""The `docker manifest` workflow as library calls: create, annotate, push, remove and
list local lists kept in docker's store. Each call is all-or-nothing: a failed create
stores nothing, a failed annotate changes nothing, a failed push keeps the list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from manifestor.errors import (
    CorruptListError,
    EntryNotFoundError,
    ListExistsError,
    ManifestorError,
    NotFoundError,
    PlatformMismatchError,
    UsageError,
)
from manifestor.local.store import ManifestStore, StoredEntry, StoredList
from manifestor.model.entries import (
    ListEntry,
    ListFormat,
    SourceFilter,
    check_entries,
    list_document,
    platform_from_config,
)
from manifestor.model.oci import parse_manifest
from manifestor.model.platform import (
    Platform,
    normalize_arch,
    normalize_os,
    validate_platform,
)
from manifestor.model.reference import Reference, parse_reference
from manifestor.model.spec import Release
from manifestor.ops.assemble import resolve_sources
from manifestor.ops.events import Notify, unchanged_note
from manifestor.ops.options import PublishOptions
from manifestor.remote.client import RegistryClient

if TYPE_CHECKING:  # publishing is imported by the calls that publish, not by create
    from manifestor.ops.publish import PushResult
    from manifestor.ops.release import ReleasePlan


def to_stored(entry: ListEntry) -> StoredEntry:
    return StoredEntry(
        ref=str(entry.source),
        descriptor=entry.descriptor,
        raw=entry.manifest.raw,
        read_from=entry.source.name if entry.fetched and entry.local is None else None,
    )


def from_stored(list_name: str, stored: StoredEntry) -> ListEntry:
    if stored.raw is None:
        raise CorruptListError(
            f"entry {stored.ref} of {list_name} was written by an old docker without its "
            "manifest bytes; run `manifestor create --amend` with that image to refresh it"
        )
    manifest = parse_manifest(stored.raw, stored.descriptor.media_type, f"entry {stored.ref}")
    if manifest.digest != stored.descriptor.digest:
        raise CorruptListError(
            f"entry {stored.ref} of {list_name}: stored bytes hash to {manifest.digest}, "
            f"not {stored.descriptor.digest}"
        )
    source = parse_reference(stored.ref)
    return ListEntry(
        source=source,
        manifest=manifest,
        platform=stored.descriptor.platform,
        annotations=dict(stored.descriptor.annotations or {}),
        # `create` read it from this repository: a push into it need not HEAD it again.
        fetched=stored.read_from == source.name,
        recorded=stored.read_from == source.name,
    )


def load_entries(store: ManifestStore, list_ref: Reference) -> list[ListEntry]:
    stored = store.get(list_ref)
    return [from_stored(str(list_ref), e) for e in stored.entries]


def create_list(
    client: RegistryClient,
    store: ManifestStore,
    list_ref: Reference,
    sources: Sequence[Reference],
    *,
    amend: bool = False,
    selection: SourceFilter | None = None,
    notify: Notify | None = None,
) -> list[ListEntry]:
    """Resolve every source, then save the list in one atomic write.

    With `amend`, entries already in the list are kept and a source given again is
    fetched anew (its entry is replaced in place when its digest changed)."""
    with store.locked(list_ref):
        existing: list[ListEntry] = []
        if store.exists(list_ref):
            if not amend:
                raise ListExistsError(
                    f"refusing to amend an existing manifest list {list_ref} with no --amend flag"
                )
            existing = load_entries(store, list_ref)
        resolved = resolve_sources(client, sources, selection)
        entries = merge_entries(existing, list(zip(sources, resolved, strict=True)), notify)
        store.save(list_ref, [to_stored(e) for e in entries], replace=amend)
        return entries


def merge_entries(
    existing: Sequence[ListEntry],
    fresh: Sequence[tuple[Reference, Sequence[ListEntry]]],
    notify: Notify | None = None,
) -> list[ListEntry]:
    """Existing entries keep their place; a source given again replaces its own entries
    (an unchanged digest keeps the old entry, with its annotations); new ones append."""
    merged = list(existing)
    for source, entries in fresh:
        key = str(source)
        positions = [i for i, e in enumerate(merged) if _belongs_to(e, key)]
        old = {merged[i].manifest.digest: merged[i] for i in positions}
        kept = [old.get(e.manifest.digest, e) for e in entries]
        if notify and positions and set(old) != {e.manifest.digest for e in entries}:
            notify(f"refreshed {key}: the registry now has a different image")
        insert_at = positions[0] if positions else len(merged)
        merged = [e for i, e in enumerate(merged) if i not in set(positions)]
        merged[insert_at:insert_at] = kept
    seen: set[str] = set()
    unique = []
    for entry in merged:
        if str(entry.source) not in seen:
            seen.add(str(entry.source))
            unique.append(entry)
    return unique


def _belongs_to(entry: ListEntry, source: str) -> bool:
    # A list source's children are stored as `source@child-digest`.
    name = str(entry.source)
    return name == source or name.startswith(source + "@")


@dataclass(frozen=True)
class Annotation:
    """What `annotate` changes. Empty strings are no-ops (scripts pass empty variables);
    `unset` names fields to clear: variant, os.version, os.features, annotations."""

    os: str = ""
    arch: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    unset: frozenset[str] = frozenset()

    UNSETTABLE = frozenset({"variant", "os.version", "os.features", "annotations"})


def annotate_entry(
    store: ManifestStore, list_ref: Reference, image_ref: Reference, change: Annotation
) -> ListEntry:
    """Edit one entry's platform and annotations in the local list."""
    bad = change.unset - Annotation.UNSETTABLE
    if bad:
        raise UsageError(
            f"cannot clear {', '.join(sorted(bad))}; clearable: "
            f"{', '.join(sorted(Annotation.UNSETTABLE))}"
        )
    with store.locked(list_ref):
        stored = store.get(list_ref)
        target = find_entry(stored, image_ref)
        entry = from_stored(str(list_ref), target)
        updated = replace(
            entry,
            platform=_apply_platform(entry.platform, change),
            annotations=_apply_annotations(entry.annotations, change),
        )
        store.update_entry(list_ref, replace(to_stored(updated), order=target.order))
        return updated


def find_entry(stored: StoredList, image_ref: Reference) -> StoredEntry:
    """The entry for an image: by its exact reference, else by the source it came from
    when that matches exactly one entry (children of a list source)."""
    wanted = str(image_ref)
    exact = [e for e in stored.entries if e.ref == wanted]
    if exact:
        return exact[0]
    loose = [e for e in stored.entries if e.ref.startswith(wanted + "@")]
    if len(loose) == 1:
        return loose[0]
    if loose:
        names = ", ".join(e.ref for e in loose)
        raise UsageError(f"{wanted} matches several entries of {stored.name}: {names}")
    raise EntryNotFoundError(f"manifest for image {wanted} does not exist in {stored.name}")


def _apply_platform(current: Platform | None, change: Annotation) -> Platform:
    platform = current or Platform(os="", architecture="")
    os_name = normalize_os(change.os) if change.os else platform.os
    arch, variant = platform.architecture, platform.variant
    if change.arch:
        arch, implied = normalize_arch(change.arch, change.variant or None)
        if implied and not change.variant:
            variant = implied
    if change.variant:
        variant = normalize_arch(arch, change.variant)[1] if arch else change.variant
    os_version = change.os_version or platform.os_version
    features = list(platform.os_features)
    for feature in change.os_features:
        if feature and feature not in features:
            features.append(feature)
    if "variant" in change.unset:
        variant = None
    if "os.version" in change.unset:
        os_version = None
    if "os.features" in change.unset:
        features = []
    result = Platform(os_name, arch, variant, os_version, tuple(features))
    if change.variant and not arch:
        raise UsageError("--variant needs an architecture: give --arch as well")
    if change.variant and variant is None:
        # normalize_arch drops a variant the architecture cannot have (386): say so.
        validate_platform(replace(result, variant=change.variant.lower()))
    if change.os or change.arch or change.variant:
        validate_platform(result)
    return result


def _apply_annotations(current: Mapping[str, str], change: Annotation) -> dict[str, str]:
    annotations = {} if "annotations" in change.unset else dict(current)
    annotations.update(change.annotations)
    return annotations


def push_stored_list(
    client: RegistryClient,
    store: ManifestStore,
    list_ref: Reference,
    options: PublishOptions | None = None,
    *,
    purge: bool = False,
    allow_platform_mismatch: bool = False,
) -> PushResult:
    """Push a local list; with `purge`, remove it only after full success.
    The options' `warn` also hears that an unchanged list was left alone. An entry whose
    os or architecture contradicts its image's config (annotated windows/arm64 on a
    linux/386 image) stops the push before anything is written, unless
    `allow_platform_mismatch`; an unchanged list is not checked again."""
    from manifestor.ops.publish import publish_entries

    options = options or PublishOptions()
    with store.locked(list_ref):  # an annotate meanwhile must not be purged unseen
        entries = stored_entries_to_push(store, list_ref)
        result = publish_entries(
            client,
            list_ref,
            entries,
            options,
            before_write=None
            if allow_platform_mismatch
            else lambda: check_platforms_against_configs(client, list_ref, entries),
        )
        if result.unchanged and options.warn is not None:
            options.warn(unchanged_note(result.target, result.digest))
        if purge:
            store.remove(list_ref)
        return result


def plan_stored_push(
    client: RegistryClient, store: ManifestStore, release: Release, list_format: ListFormat
) -> ReleasePlan:
    """What `push LIST` would write (release: the list, its --tag and --annotation
    values), checked as a push checks it, writing nothing."""
    from manifestor.ops.publish import plan_steps
    from manifestor.ops.release import ReleasePlan

    entries = stored_entries_to_push(store, release.target)
    check_entries(entries)
    document = list_document([e.descriptor for e in entries], list_format, release.annotations)
    tags = [release.target] + [release.target.with_tag(t) for t in release.tags]
    steps = plan_steps(client, release.target, entries, document, tags)
    return ReleasePlan(release, tuple(entries), document, tuple(steps))


def check_platforms_against_configs(
    client: RegistryClient, list_ref: Reference, entries: Sequence[ListEntry]
) -> None:
    """Raise PlatformMismatchError for the first entry whose os or architecture
    contradicts what its image's config says (one config GET per image, concurrently).
    The variant is what `annotate` is for (many arm64 configs omit it), so it is not
    compared here; the one-shot push, where no annotate was run, compares it too."""
    images = [e for e in entries if not e.is_attestation and e.platform is not None]
    configs = client.jobs.map(lambda e: _config_platform(client, list_ref, e), images)
    for entry, actual in zip(images, configs, strict=True):
        assert entry.platform is not None
        if not _same_os_and_arch(actual, entry.platform):
            raise PlatformMismatchError(
                f"{entry.label} is listed in {list_ref} as {entry.platform} but its image "
                f"config says {actual}; correct the entry with `manifestor annotate`, or pass "
                "--allow-platform-mismatch if that is intended"
            )


def _same_os_and_arch(config: Platform, listed: Platform) -> bool:
    return (normalize_os(config.os), normalize_arch(config.architecture)[0]) == (
        normalize_os(listed.os),
        normalize_arch(listed.architecture)[0],
    )


def _config_platform(client: RegistryClient, list_ref: Reference, entry: ListEntry) -> Platform:
    digest = entry.manifest.config.digest
    try:
        config = client.get_blob(entry.source, digest)
    except NotFoundError:
        # The source may be gone while the image is already in the target repository.
        config = client.get_blob(list_ref, digest)
    return platform_from_config(config, entry.label)



def stored_entries_to_push(store: ManifestStore, list_ref: Reference) -> list[ListEntry]:
    entries = load_entries(store, list_ref)
    if not entries:
        raise UsageError(f"{list_ref} has no entries; add images with `manifestor create --amend`")
    return entries


def remove_lists(store: ManifestStore, names: Iterable[str]) -> list[str]:
    """Remove each named list, going on past failures (one message per failure, like
    docker's `rm`). Every name is parsed first: a malformed one is a usage error and
    nothing is removed."""
    refs = [parse_reference(name) for name in names]
    failures = []
    for ref in refs:
        try:
            with store.locked(ref):
                store.remove(ref)
        except ManifestorError as exc:
            failures.append(str(exc))
    return failures
