"""One-shot releases: per-arch sources wherever they are — tags or digests, source lists,
OCI layouts and archives, other registries — become one list pushed under one or more
tags, without the local store. A stated platform (template, spec, `SOURCE=os/arch`) must
agree with the image's config: a mismatch is an image built on the wrong host."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from manifestor.errors import NotFoundError, PlatformMismatchError, UsageError
from manifestor.model.entries import (
    ListEntry,
    ListFormat,
    SourceFilter,
    check_entries,
    describes,
    list_document,
    platform_from_config,
)
from manifestor.model.oci import LIST_MEDIA_TYPES, Manifest
from manifestor.model.platform import Platform, config_agrees, platforms_match
from manifestor.model.reference import Reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.assemble import resolve_source
from manifestor.ops.events import Notify, Progress, unchanged_note
from manifestor.ops.options import PublishOptions
from manifestor.ops.publish import (
    PushResult,
    check_target_name,
    equivalent_digests,
    plan_steps,
    publish_entries,
)
from manifestor.remote.client import ManifestInfo, RegistryClient

if TYPE_CHECKING:
    from manifestor.local.layout import LocalImage


@dataclass(frozen=True)
class ReleaseOptions:
    list_format: ListFormat = "auto"
    selection: SourceFilter = field(default_factory=SourceFilter)
    ignore_missing: bool = False
    # Keep the entries already on the target tag; replace only the sources' platforms.
    upsert: bool = False
    # Publish a stated platform even when the image's config says another (rarely right).
    allow_platform_mismatch: bool = False


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
    groups = client.jobs.map(
        lambda source: _resolve(client, release.target, source, options, notify),
        list(release.sources),
    )
    entries = [entry for group in groups for entry in group]
    if not entries:
        raise UsageError(f"no images to publish at {release.target}: every source was skipped")
    if all(groups):  # a skipped missing source may be the one a filter value was for
        options.selection.check_selected([e.platform for e in entries])
    return entries


def plan_release(
    client: RegistryClient, release: Release, options: ReleaseOptions, notify: Notify | None = None
) -> ReleasePlan:
    """Resolve and check everything a push would, writing nothing. With upsert, the
    plan is the merge with the list the tag holds now, as the real run would write it."""
    check_target_name(release.target)
    entries = gather_entries(client, release, options, notify)
    check_entries(entries)
    annotations: Mapping[str, str] = release.annotations
    if options.upsert:
        from manifestor.ops.upsert import merged_with_current  # only for --upsert

        entries, annotations = merged_with_current(
            client, release.target, entries, _publish_options(release, options)
        )
        check_entries(entries)
    document = list_document([e.descriptor for e in entries], options.list_format, annotations)
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
        current = tuple(client.jobs.map(client.head_manifest, tags))
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
    publish = _publish_options(release, options, notify, progress)
    if options.upsert:
        from manifestor.ops.upsert import upsert_entries  # only for --upsert

        return upsert_entries(client, release.target, prepared.entries, publish)
    return publish_entries(
        client, release.target, prepared.entries, publish, current=prepared.current
    )


def _publish_options(
    release: Release,
    options: ReleaseOptions,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> PublishOptions:
    """How a release's list is written: the run's list type, the release's annotations
    and extra tags; `notify` hears of children brought in and of diagnostics alike."""
    return PublishOptions(
        options.list_format,
        release.annotations,
        tuple(_tags(release)[1:]),
        notify=notify,
        warn=notify,
        progress=progress,
    )


def publish_releases(
    client: RegistryClient,
    releases: Sequence[Release],
    options: ReleaseOptions | None = None,
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> list[PushResult]:
    """Publish every release of a run, all prepared before any is written, so one bad
    release stops them all. Releases run concurrently under the run's per-host limits,
    and a source several releases share is resolved once."""
    options = options or ReleaseOptions()
    _check_distinct_tags(releases)
    if len(releases) == 1 and not options.upsert:
        _preconnect_sources(client, releases[0])
    prepared = client.jobs.map(lambda r: prepare_release(client, r, options, notify), releases)
    results = client.jobs.map(
        lambda ready: publish_prepared(client, ready, options, notify=notify, progress=progress),
        prepared,
    )
    if notify is not None:
        for result in results:
            if result.unchanged:
                notify(unchanged_note(result.target, result.digest))
    return results


def _check_distinct_tags(releases: Sequence[Release]) -> None:
    """Two releases of one run must not write one tag: which would win is a race."""
    owner: dict[str, str] = {}
    for release in releases:
        for tag in _tags(release):
            key = f"{tag.name}:{tag.tag}" if tag.tag else str(tag)
            if key in owner:
                raise UsageError(
                    f"tag {key} is written by two releases ({owner[key] or 'one'} and "
                    f"{release.origin or 'another'}); give each tag to one release"
                )
            owner[key] = release.origin


def publish_release(
    client: RegistryClient,
    release: Release,
    options: ReleaseOptions | None = None,
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Publish one release: prepare it (nothing written yet), then write it. The
    library's one-call entry point (`manifestor.publish`)."""
    options = options or ReleaseOptions()
    if not options.upsert:
        _preconnect_sources(client, release)
    prepared = prepare_release(client, release, options, notify)
    return publish_prepared(client, prepared, options, notify=notify, progress=progress)


def _preconnect_sources(client: RegistryClient, release: Release) -> None:
    """A release checks its tags first; its sources are read right after, several at once.
    Their connections open now, all at once, so those reads do not each wait for a TCP
    (and TLS) handshake: a round trip less. On the target's registry the tags' checks
    take the first connections that open instead of opening their own, so the run still
    holds no more than the per-host limit. Only for a run of one release: releases that
    run together fill the connections with their own checks."""
    tags = len(_tags(release))
    reads: dict[str, int] = {}
    for source in release.sources:
        if source.local_path is None:
            domain = source.reference().domain
            reads[domain] = reads.get(domain, 0) + 1
    for domain, count in reads.items():
        if domain == release.target.domain:
            client.preconnect(domain, max(count, tags), ready=tags)
        else:
            client.preconnect(domain, count)


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
    # One round, in parallel: a HEAD of each source given by tag, and the list itself (a
    # GET, unless the cache has it: a list is named by its digest, so a copy is as good).
    list_ref = release.target.at_digest(digest)
    probes: list[Callable[[], object]] = [
        partial(_source_digest, client, source.reference()) for source in release.sources
    ]
    probes.append(partial(client.get_manifest, list_ref))
    *found, current = client.jobs.map(_call, probes)
    assert isinstance(current, Manifest)
    by_digest = {d.digest: d for d in current.children}
    descriptors = []
    for source, child_digest in zip(release.sources, found, strict=True):
        child = by_digest.get(child_digest) if isinstance(child_digest, str) else None
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
    return PushResult(
        tags[0], digest, media_type, (), tuple(tags), unchanged=True, entries=tuple(descriptors)
    )


def _call(probe: Callable[[], object]) -> object:
    return probe()


def _source_digest(client: RegistryClient, ref: Reference) -> str | None:
    if ref.digest:
        return ref.digest
    info = client.head_manifest(ref)
    return info.digest if info else None


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
        from manifestor.local.layout import open_local_images  # tarfile: only for archives

        found = [_local_entry(target, image) for image in open_local_images(source.local_path)]
        entries = [e for e in found if options.selection.wants(e.platform, e.is_attestation)]
        if not any(not e.is_attestation for e in entries):
            present = ", ".join(str(e.platform) for e in found if not e.is_attestation)
            raise UsageError(
                f"{source.text} has no image for the requested platforms "
                f"(it has {present or 'no images'})"
            )
    else:
        ref = source.reference()
        try:
            # A source several releases share is resolved once in the run.
            entries = client.jobs.once(
                ("source", str(ref), options.selection),
                lambda: resolve_source(client, ref, options.selection),
            )
        except NotFoundError:
            if not options.ignore_missing:
                raise
            if notify:
                notify(f"skipping missing source {ref}")
            return []
    if source.platform is not None:
        entries = _with_stated_platform(
            entries, source.platform, source.text, options.allow_platform_mismatch
        )
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
    entries: Sequence[ListEntry], stated: Platform, label: str, allow_mismatch: bool = False
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
    if actual is not None and not allow_mismatch and not config_agrees(actual, stated):
        raise PlatformMismatchError(
            f"{label} was given as {stated} but its image config says {actual}: "
            "an image built on the wrong host? refusing to publish it "
            "(--allow-platform-mismatch publishes it anyway)"
        )
    same_arch = actual is not None and actual.architecture == stated.architecture
    merged = Platform(
        stated.os,
        stated.architecture,
        stated.variant or (actual.variant if actual and same_arch else None),
        stated.os_version or (actual.os_version if actual else None),
        stated.os_features or (actual.os_features if actual else ()),
    )
    # Attestations are here only when kept (--attestations keep); they go with the image
    # chosen, not with the ones left out.
    image = {entry.manifest.digest}
    attestations = [e for e in entries if e.is_attestation and describes(e.descriptor, image)]
    return [replace(entry, platform=merged), *attestations]
