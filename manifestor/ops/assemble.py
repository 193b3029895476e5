"""Sources -> the entries of a list. A source is an image manifest (its platform read
from the image config) or itself a list (its image children taken with their descriptor
platforms; attestations dropped unless kept). Sources are resolved concurrently, a few per
registry host."""

from __future__ import annotations

from collections.abc import Sequence

from manifestor.errors import ManifestFormatError, UsageError
from manifestor.model.entries import (
    ListEntry,
    SourceFilter,
    describes,
    is_attestation_descriptor,
    platform_from_config,
)
from manifestor.model.oci import Descriptor
from manifestor.model.reference import Reference
from manifestor.remote.client import RegistryClient


def resolve_sources(
    client: RegistryClient, sources: Sequence[Reference], selection: SourceFilter | None = None
) -> list[list[ListEntry]]:
    """Resolve each source to its entries (one, or several for a source list), in order."""
    selection = selection or SourceFilter()
    resolved = client.jobs.map(lambda ref: resolve_source(client, ref, selection), sources)
    selection.check_selected([e.platform for group in resolved for e in group])
    return resolved


def resolve_source(
    client: RegistryClient, ref: Reference, selection: SourceFilter | None = None
) -> list[ListEntry]:
    selection = selection or SourceFilter()
    manifest = client.get_manifest(ref)
    if not manifest.is_list:
        config = client.get_blob(ref, manifest.config.digest)
        platform = platform_from_config(config, str(ref))
        selection.check_image(platform, str(ref))
        return [ListEntry(ref, manifest, platform, fetched=True)]
    wanted = [
        child
        for child in manifest.children
        if selection.wants(child.platform, is_attestation_descriptor(child))
    ]
    # An attestation is about one image: keep it only with the image it describes.
    images = {c.digest for c in wanted if not is_attestation_descriptor(c)}
    wanted = [c for c in wanted if not is_attestation_descriptor(c) or describes(c, images)]
    if not wanted:
        present = ", ".join(
            str(c.platform) for c in manifest.children if not is_attestation_descriptor(c)
        )
        raise UsageError(
            f"source list {ref} has no image for the requested platforms "
            f"(it has {present or 'no images'})"
        )
    entries = fetch_children(client, ref, wanted)
    for entry in entries:
        if entry.manifest.is_list:
            raise ManifestFormatError(
                f"source {ref} nests a list ({entry.manifest.digest}); not supported"
            )
    return entries


def fetch_children(
    client: RegistryClient, ref: Reference, descriptors: Sequence[Descriptor]
) -> list[ListEntry]:
    """The children a list at `ref` names, fetched by digest from its repository
    (concurrently), as entries with the platform and annotations of their descriptors.
    Each is named `ref@digest` (keeping the tag, for messages)."""
    manifests = client.jobs.map(
        lambda d: client.get_manifest(ref.at_digest(d.digest)), list(descriptors)
    )
    return [
        ListEntry(
            ref.with_digest(d.digest),
            manifest,
            d.platform,
            dict(d.annotations or {}),
            fetched=True,
        )
        for d, manifest in zip(descriptors, manifests, strict=True)
    ]
