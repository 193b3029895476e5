"""What `inspect` shows of a reference in a registry: fetch what the chosen view needs
(one HEAD for a digest, the manifest, and for --verbose the children or the config),
then render it in docker's shapes (render.py)."""

from __future__ import annotations

from manifestor.errors import NotFoundError
from manifestor.model.entries import ListEntry, platform_from_config
from manifestor.model.reference import Reference
from manifestor.model.render import list_view, manifest_view, verbose_view
from manifestor.remote.client import RegistryClient


def remote_digest(client: RegistryClient, ref: Reference) -> str:
    """The digest a reference resolves to, by HEAD: nothing is downloaded."""
    info = client.head_manifest(ref)
    if info is None:
        raise NotFoundError(f"no such manifest: {ref}", status=404)
    return info.digest


def remote_raw(client: RegistryClient, ref: Reference) -> bytes:
    """The registry's exact bytes (verified against the digest)."""
    return client.get_manifest(ref).raw


def remote_view(client: RegistryClient, ref: Reference, *, verbose: bool = False) -> str:
    """docker's `manifest inspect [-v]` output for a remote image or list."""
    manifest = client.get_manifest(ref)
    if not verbose:
        return list_view(manifest) if manifest.is_list else manifest_view(manifest)
    if manifest.is_list:
        children = []
        for child in manifest.children:
            child_ref = ref.with_digest(child.digest)
            children.append(
                ListEntry(
                    child_ref,
                    client.get_manifest(child_ref),
                    child.platform,
                    dict(child.annotations or {}),
                )
            )
        return verbose_view(children, as_list=True)
    config = client.get_blob(ref, manifest.config.digest)
    entry = ListEntry(ref, manifest, platform_from_config(config, str(ref)))
    return verbose_view([entry], as_list=False)
