"""One-shot releases: per-arch sources wherever they are — tags or digests, source lists,
OCI layouts and archives, other registries — become one list pushed under one or more
tags, without the local store. A stated platform (template, spec, `SOURCE=os/arch`) must
agree with the image's config: a mismatch is an image built on the wrong host."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from manifestor.errors import NotFoundError, PlatformMismatchError, UsageError
from manifestor.local.layout import LocalImage, open_local_images
from manifestor.model.entries import (
    ListEntry,
    ListFormat,
    SourceFilter,
    check_entries,
    list_document,
    platform_from_config,
)
from manifestor.model.oci import LIST_MEDIA_TYPES, Manifest
from manifestor.model.platform import Platform, config_agrees, platforms_match
from manifestor.model.reference import Reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.assemble import resolve_source
from manifestor.ops.events import Notify, Progress
from manifestor.ops.publish import (
    PushResult,
    check_target_name,
    equivalent_digests,
    plan_steps,
    push_list,
)
from manifestor.ops.upsert import upsert_list
from manifestor.remote.client import ManifestInfo, RegistryClient
from manifestor.remote.jobs import map_bounded


@dataclass(frozen=True)
class ReleaseOptions:
    list_format: ListFormat = "auto"
    selection: SourceFilter = field(default_factory=SourceFilter)
    ignore_missing: bool = False
    # Keep the entries already on the target tag; replace only the sources' platforms.
    upsert: bool = False


@dataclass(frozen=True)
class ReleasePlan:
    """What a release would push: the entries, the list bytes, the requests to make."""

    release: Release
    entries: tuple[ListEntry, ...]
    document: Manifest
    steps: tuple[str, ...]


def gather_entries(
    client: RegistryClient,
    release: Release,
    options: ReleaseOptions,
    notify: Notify | None = None,
) -> list[ListEntry]:
    """Resolve every source of a release (concurrently), in the order given."""
    groups = map_bounded(
        lambda source: _resolve(client, release.target, source, options, notify),
        list(release.sources),
        lambda source: "local" if source.local_path else source.reference().registry,
    )
    entries = [entry for group in groups for entry in group]
    if not entries:
        raise UsageError(f"no images to publish at {release.target}: every source was skipped")
    return entries


def plan_release(
    client: RegistryClient, release: Release, options: ReleaseOptions, notify: Notify | None = None
) -> ReleasePlan:
    """Resolve and check everything a push would, writing nothing."""
    check_target_name(release.target)
    entries = gather_entries(client, release, options, notify)
    check_entries(entries)
    document = list_document(
        [e.descriptor for e in entries], options.list_format, release.annotations
    )
    steps = plan_steps(client, release.target, entries, document, _tags(release))
    return ReleasePlan(release, tuple(entries), document, tuple(steps))


@dataclass(frozen=True)
class PreparedRelease:
    """A release resolved and checked, ready to write (or found unchanged)."""

    release: Release
    entries: tuple[ListEntry, ...] = ()
    current: tuple[ManifestInfo | None, ...] | None = None
    unchanged: PushResult | None = None


def prepare_release(
    client: RegistryClient,
    release: Release,
    options: ReleaseOptions,
    notify: Notify | None = None,
) -> PreparedRelease:
    """Everything up to the first write: the tags' current state, the sources resolved,
    the entries checked (platforms, duplicates, list type). Preparing every release of a
    spec before writing any means one bad release stops them all."""
    check_target_name(release.target)
    tags = _tags(release)
    current = None
    if not options.upsert:
        current = tuple(client.head_manifest(t) for t in tags)
        unchanged = unchanged_by_heads(client, release, options, current)
        if unchanged is not None:
            return PreparedRelease(release, (), current, unchanged)
    entries = gather_entries(client, release, options, notify)
    check_entries(entries)
    list_document([e.descriptor for e in entries], options.list_format, release.annotations)
    return PreparedRelease(release, tuple(entries), current)


def publish_prepared(
    client: RegistryClient,
    prepared: PreparedRelease,
    options: ReleaseOptions,
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Bring every child into the target repository, PUT the list under the target tag
    and every extra tag, read it back; nothing is written when it is unchanged."""
    if prepared.unchanged is not None:
        return prepared.unchanged
    release = prepared.release
    extra_tags = _tags(release)[1:]
    if options.upsert:
        return upsert_list(
            client,
            release.target,
            prepared.entries,
            list_format=options.list_format,
            annotations=dict(release.annotations),
            extra_tags=extra_tags,
            notify=notify,
            progress=progress,
        )
    return push_list(
        client,
        release.target,
        prepared.entries,
        list_format=options.list_format,
        annotations=release.annotations,
        extra_tags=extra_tags,
        notify=notify,
        warn=notify,
        progress=progress,
        current=prepared.current,
    )


def publish_release(
    client: RegistryClient,
    release: Release,
    options: ReleaseOptions,
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Prepare and publish one release (see prepare_release and publish_prepared)."""
    prepared = prepare_release(client, release, options, notify)
    return publish_prepared(client, prepared, options, notify=notify, progress=progress)


def unchanged_by_heads(
    client: RegistryClient,
    release: Release,
    options: ReleaseOptions,
    infos: Sequence[ManifestInfo | None],
) -> PushResult | None:
    """The cheap way to find that nothing changed: when every tag holds the same list and
    every source, by HEAD, is one of its children, rebuild the list from its own
    descriptors. Same digest: unchanged, found without downloading any source (Docker Hub
    counts GETs, not HEADs). Anything else: None, and the full path decides."""
    if any(s.local_path is not None for s in release.sources):
        return None
    tags = _tags(release)
    if any(i is None or i.media_type not in LIST_MEDIA_TYPES for i in infos):
        return None
    digests = {i.digest for i in infos if i is not None}
    if len(digests) != 1:
        return None
    digest = digests.pop()
    current = client.get_manifest(release.target.at_digest(digest))
    by_digest = {d.digest: d for d in current.children}
    descriptors = []
    for source in release.sources:
        ref = source.reference()
        if ref.digest is None:
            info = client.head_manifest(ref)
            if info is None:
                return None
            child = by_digest.get(info.digest)
        else:
            child = by_digest.get(ref.digest)
        if child is None or child.platform is None:
            return None
        # The child must be exactly what this source would give: the platform it states
        # (else the one recorded, which came from the image config) and its annotations.
        if source.platform is not None and not _same_platform(child.platform, source.platform):
            return None
        if dict(child.annotations or {}) != dict(source.annotations):
            return None
        descriptors.append(child)
    document = list_document(descriptors, options.list_format, release.annotations)
    accepted = equivalent_digests(document, descriptors, options.list_format, release.annotations)
    if digest not in accepted:
        return None
    media_type = next(i.media_type for i in infos if i is not None)
    return PushResult(tags[0], digest, media_type, (), tuple(tags), unchanged=True)


def _same_platform(recorded: Platform, stated: Platform) -> bool:
    """What `_with_stated_platform` would record for `stated`: its os, architecture and,
    when given, variant, os.version and os.features."""
    return (
        platforms_match(recorded, stated)
        and (stated.variant is None or recorded.variant == stated.variant)
        and (stated.os_version is None or recorded.os_version == stated.os_version)
        and (not stated.os_features or recorded.os_features == stated.os_features)
    )


def _tags(release: Release) -> list[Reference]:
    # A target given as name:tag@digest is published under its tag; with_tag also
    # validates each extra tag before anything is written.
    main = release.target.with_tag(release.target.tag) if release.target.tag else release.target
    tags = [main] + [main.with_tag(tag) for tag in release.tags]
    unique: list[Reference] = []
    for ref in tags:
        if str(ref) not in {str(u) for u in unique}:
            unique.append(ref)
    return unique


def _resolve(
    client: RegistryClient,
    target: Reference,
    source: SourceSpec,
    options: ReleaseOptions,
    notify: Notify | None,
) -> list[ListEntry]:
    if source.local_path is not None:
        entries = [_local_entry(target, image) for image in open_local_images(source.local_path)]
        entries = [e for e in entries if options.selection.wants(e.platform, e.is_attestation)]
        if not any(not e.is_attestation for e in entries):
            raise UsageError(f"{source.text} has no image for the requested platforms")
    else:
        ref = source.reference()
        try:
            entries = resolve_source(client, ref, options.selection)
        except NotFoundError:
            if not options.ignore_missing:
                raise
            if notify:
                notify(f"skipping missing source {ref}")
            return []
    if source.platform is not None:
        entries = _with_stated_platform(entries, source.platform, source.text)
    if source.annotations:
        entries = [replace(e, annotations={**e.annotations, **source.annotations}) for e in entries]
    return entries


def _local_entry(target: Reference, image: LocalImage) -> ListEntry:
    platform = image.platform
    if platform is None:
        platform = platform_from_config(image.config(), image.label)
    # A local image lands in the target repository by digest; that is its reference there.
    return ListEntry(
        source=target.at_digest(image.manifest.digest),
        manifest=image.manifest,
        platform=platform,
        annotations=dict(image.annotations),
        local=image,
    )


def _with_stated_platform(
    entries: Sequence[ListEntry], stated: Platform, label: str
) -> list[ListEntry]:
    """Keep the entry the user says is `stated`; refuse when the image says otherwise."""
    images = [e for e in entries if not e.is_attestation]
    if not images:
        raise UsageError(f"{label} has no image to publish as {stated}")
    if len(images) > 1:
        chosen = [
            e for e in images if e.platform is not None and platforms_match(e.platform, stated)
        ]
        if not chosen:
            found = ", ".join(str(e.platform) for e in images)
            raise PlatformMismatchError(f"{label} has no image for {stated} (it has {found})")
        images = chosen[:1]
    entry = images[0]
    actual = entry.platform
    if actual is not None and not config_agrees(actual, stated):
        raise PlatformMismatchError(
            f"{label} was given as {stated} but its image config says {actual}: "
            "an image built on the wrong host? refusing to publish it"
        )
    merged = Platform(
        stated.os,
        stated.architecture,
        stated.variant or (actual.variant if actual else None),
        stated.os_version or (actual.os_version if actual else None),
        stated.os_features or (actual.os_features if actual else ()),
    )
    return [replace(entry, platform=merged)]
