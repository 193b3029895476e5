"""Replace the entries of some platforms in the list a tag already holds, keeping the
others, so each per-arch job can update its own entry of a shared tag.

Registries have no conditional PUT, so this is an optimistic compare-and-swap: read the
tag, merge, check the tag did not move just before writing, write, then (after a short
settle time) check the new entries are still there; if another writer raced us, merge
again. Bounded attempts with jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from manifestor.errors import ManifestFormatError, ReadBackError, TagMovedError
from manifestor.model.entries import ListEntry, ListFormat, describes
from manifestor.model.oci import LIST_MEDIA_TYPES
from manifestor.model.platform import platforms_match
from manifestor.model.reference import Reference
from manifestor.ops.assemble import fetch_children
from manifestor.ops.events import Notify, Progress
from manifestor.ops.options import PublishOptions
from manifestor.ops.publish import PushResult, check_target_name, publish_entries
from manifestor.remote.client import ManifestInfo, RegistryClient


@dataclass(frozen=True)
class UpsertPolicy:
    attempts: int = 6
    settle: float = 0.5
    jitter: float = 0.3


def merge_by_platform(current: Sequence[ListEntry], fresh: Sequence[ListEntry]) -> list[ListEntry]:
    """`current` with each platform of `fresh` replaced in place (`arm64` matches
    `arm64/v8`), new platforms appended, and attestations of replaced images dropped."""
    merged = list(current)
    for new in (e for e in fresh if not e.is_attestation):
        assert new.platform is not None
        same = [
            i
            for i, old in enumerate(merged)
            if not old.is_attestation
            and old.platform is not None
            and platforms_match(old.platform, new.platform)
            and old.platform.os_version == new.platform.os_version
        ]
        if same:
            merged[same[0]] = new
            merged = [e for i, e in enumerate(merged) if i not in same[1:]]
        else:
            merged.append(new)
    merged.extend(e for e in fresh if e.is_attestation)
    images = {e.manifest.digest for e in merged if not e.is_attestation}
    kept = [e for e in merged if not e.is_attestation or describes(e.descriptor, images)]
    unique: dict[str, ListEntry] = {}
    for entry in kept:
        unique.setdefault(entry.manifest.digest, entry)
    return list(unique.values())


def upsert_list(
    client: RegistryClient,
    target: Reference,
    fresh: Sequence[ListEntry],
    *,
    list_format: ListFormat = "auto",
    annotations: dict[str, str] | None = None,
    extra_tags: Sequence[Reference] = (),
    notify: Notify | None = None,
    progress: Progress | None = None,
    policy: UpsertPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """`upsert_entries` with the options as keywords: the public API's form
    (`manifestor.upsert`). `notify` hears diagnostics too."""
    options = PublishOptions(
        list_format, annotations or {}, tuple(extra_tags), notify, notify, progress
    )
    return upsert_entries(client, target, fresh, options, policy=policy, sleep=sleep)


def upsert_entries(
    client: RegistryClient,
    target: Reference,
    fresh: Sequence[ListEntry],
    options: PublishOptions,
    *,
    policy: UpsertPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Merge `fresh` into the list at `target` and push, retrying when raced. The
    list's index annotations are kept; the options' `annotations` add to or override
    them."""
    check_target_name(target)
    policy = policy or UpsertPolicy()
    notify = options.notify
    for attempt in range(1, policy.attempts + 1):
        info, merged, merged_annotations = _merge_with_current(client, target, fresh, options)
        try:
            result = publish_entries(
                client,
                target,
                merged,
                replace(options, annotations=merged_annotations),
                expect_current=info.digest if info else None,
            )
        except (TagMovedError, ReadBackError):
            # Moved just before the write, or overwritten right after it: another writer.
            if notify:
                notify(f"{target} moved under this write (attempt {attempt}); merging again")
            sleep(random.uniform(0, policy.jitter))
            continue
        if result.unchanged:
            return result
        sleep(policy.settle + random.uniform(0, policy.jitter))
        if _still_holds(client, target, fresh):
            return result
        if notify:
            notify(f"{target} was rewritten by another writer (attempt {attempt}); merging again")
    raise TagMovedError(
        f"{target} kept changing under concurrent writers; gave up after {policy.attempts} attempts"
    )


def merged_with_current(
    client: RegistryClient,
    target: Reference,
    fresh: Sequence[ListEntry],
    options: PublishOptions,
) -> tuple[list[ListEntry], dict[str, str]]:
    """The entries and index annotations an upsert would write now (for a dry run)."""
    _, merged, merged_annotations = _merge_with_current(client, target, fresh, options)
    return merged, merged_annotations


def _merge_with_current(
    client: RegistryClient,
    target: Reference,
    fresh: Sequence[ListEntry],
    options: PublishOptions,
) -> tuple[ManifestInfo | None, list[ListEntry], dict[str, str]]:
    info = client.head_manifest(target)
    current, kept = _current_list(client, target, info)
    merged = merge_by_platform(current, fresh)
    if options.list_format == "docker":
        kept = {}  # asked for a Docker list, which cannot carry index annotations
    return info, merged, {**kept, **options.annotations}


def _current_list(
    client: RegistryClient, target: Reference, info: ManifestInfo | None
) -> tuple[list[ListEntry], dict[str, str]]:
    """The entries and the index annotations of the list the tag holds now."""
    if info is None:
        return [], {}
    at = target.at_digest(info.digest)
    current = client.get_manifest(at)
    if current.media_type not in LIST_MEDIA_TYPES:
        raise ManifestFormatError(
            f"{target} holds a single image, not a list; refusing to merge into it"
        )
    entries = fetch_children(client, at, current.children)
    return entries, dict(current.annotations)


def _still_holds(client: RegistryClient, target: Reference, fresh: Sequence[ListEntry]) -> bool:
    info = client.head_manifest(target)
    if info is None:
        return False
    now = client.get_manifest(target.at_digest(info.digest))
    present = {d.digest for d in now.children}
    return all(e.manifest.digest in present for e in fresh if not e.is_attestation)
