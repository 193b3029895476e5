"""One-shot releases: per-arch sources wherever they are — tags or digests, source lists,
OCI layouts and archives, other registries — become one list pushed under one or more
tags, without the local store. A stated platform (template, spec, `SOURCE=os/arch`) must
agree with the image's config: a mismatch is an image built on the wrong host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from manifestor.assemble import (
    ListEntry,
    ListFormat,
    SourceFilter,
    build_list,
    choose_media_type,
    platform_from_config,
    resolve_source,
)
from manifestor.errors import NotFoundError, PlatformMismatchError, UsageError
from manifestor.layout import LocalImage, open_local_images
from manifestor.oci import Manifest
from manifestor.platform import Platform, platforms_match
from manifestor.pool import map_bounded
from manifestor.publish import Progress, PushResult, check_entries, plan_steps, push_list
from manifestor.reference import Reference
from manifestor.registry import RegistryClient
from manifestor.spec import Release, SourceSpec

Notify = Callable[[str], None]


@dataclass(frozen=True)
class ReleaseOptions:
    list_format: ListFormat = "auto"
    selection: SourceFilter = field(default_factory=SourceFilter)
    ignore_missing: bool = False


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
    entries = gather_entries(client, release, options, notify)
    check_entries(entries)
    media_type = choose_media_type(entries, options.list_format, release.annotations)
    document = build_list(entries, media_type, release.annotations)
    steps = plan_steps(client, release.target, entries, document, _tags(release))
    return ReleasePlan(release, tuple(entries), document, tuple(steps))


def publish_release(
    client: RegistryClient,
    release: Release,
    options: ReleaseOptions,
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Resolve the sources, bring every child into the target repository, PUT the list
    under the target tag and every extra tag."""
    entries = gather_entries(client, release, options, notify)
    return push_list(
        client,
        release.target,
        entries,
        list_format=options.list_format,
        annotations=release.annotations,
        extra_tags=_tags(release)[1:],
        notify=notify,
        progress=progress,
    )


def _tags(release: Release) -> list[Reference]:
    main = release.target
    tags = [main] + [Reference(main.domain, main.path, tag, None) for tag in release.tags]
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
        source=Reference(target.domain, target.path, None, image.manifest.digest),
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
    if actual is not None and not _agrees(actual, stated):
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


def _agrees(actual: Platform, stated: Platform) -> bool:
    # A config without a variant does not contradict a stated variant (many arm64 images
    # omit "v8"); a config that names a different one does.
    if actual.variant is None:
        return platforms_match(replace(actual, variant=stated.variant), stated)
    return platforms_match(actual, stated)
