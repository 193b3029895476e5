"""What `inspect` shows: a local list, one entry of a local list, or a manifest or list in
a registry, in one of docker's views. Fetches only what the view needs (one HEAD for a
remote digest, the manifest, and for --verbose the children or the config) and renders
with model/render.py. Returns bytes: the CLI writes them as they are."""

from __future__ import annotations

from typing import Literal

from manifestor.errors import NotFoundError
from manifestor.local.store import ManifestStore
from manifestor.model.entries import ListEntry, ListFormat, list_document, platform_from_config
from manifestor.model.reference import Reference
from manifestor.model.render import list_view, manifest_view, verbose_view
from manifestor.ops.assemble import fetch_children
from manifestor.ops.lists import find_entry, from_stored, load_entries
from manifestor.remote.client import RegistryClient

# json: docker's `manifest inspect` shape; verbose: `-v`; raw: the exact bytes; digest:
# the digest alone, on one line.
View = Literal["json", "verbose", "raw", "digest"]


def inspect_local_list(
    store: ManifestStore, ref: Reference, list_format: ListFormat, view: View
) -> bytes:
    """A local list as `push` would write it in `list_format`."""
    entries = load_entries(store, ref)
    document = list_document([e.descriptor for e in entries], list_format)
    if view == "digest":
        return (document.digest + "\n").encode()
    if view == "raw":
        return document.raw
    if view == "verbose":
        return verbose_view(entries, as_list=True).encode()
    return list_view(document).encode()


def inspect_local_entry(
    store: ManifestStore, list_ref: Reference, image: Reference, view: View
) -> bytes:
    """One entry of a local list; as docker, the image manifest alone (or -v's form)."""
    entry = from_stored(str(list_ref), find_entry(store.get(list_ref), image))
    if view == "raw":
        return entry.manifest.raw
    if view == "digest":
        return (entry.manifest.digest + "\n").encode()
    if view == "verbose":
        return verbose_view([entry], as_list=False).encode()
    return manifest_view(entry.manifest).encode()


def inspect_remote(client: RegistryClient, ref: Reference, view: View) -> bytes:
    """A manifest or list in a registry."""
    if view == "digest":
        return (remote_digest(client, ref) + "\n").encode()
    if view == "raw":
        return client.get_manifest(ref).raw  # verified against the digest
    return remote_view(client, ref, verbose=view == "verbose").encode()


def remote_digest(client: RegistryClient, ref: Reference) -> str:
    """The digest a reference resolves to, by HEAD: nothing is downloaded."""
    info = client.head_manifest(ref)
    if info is None:
        raise NotFoundError(f"no such manifest: {ref}", status=404)
    return info.digest


def remote_view(client: RegistryClient, ref: Reference, *, verbose: bool = False) -> str:
    """docker's `manifest inspect [-v]` output for a remote image or list."""
    manifest = client.get_manifest(ref)
    if not verbose:
        return list_view(manifest) if manifest.is_list else manifest_view(manifest)
    if manifest.is_list:
        return verbose_view(fetch_children(client, ref, manifest.children), as_list=True)
    config = client.get_blob(ref, manifest.config.digest)
    entry = ListEntry(ref, manifest, platform_from_config(config, str(ref)))
    return verbose_view([entry], as_list=False)
