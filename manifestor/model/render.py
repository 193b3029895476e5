"""How manifests and lists are shown: the JSON shapes `docker manifest inspect` prints,
so scripts that pipe it into jq keep working, with annotations kept. Pure."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from manifestor.model.entries import ListEntry
from manifestor.model.gojson import go_json
from manifestor.model.oci import DOCKER_MANIFEST, OCI_MANIFEST, Descriptor, Manifest


def list_view(manifest: Manifest) -> str:
    """A list the way docker prints one: 3-space indent, descriptor keys in docker's order
    (mediaType, size, digest, platform), annotations kept rather than dropped."""
    body: dict[str, Any] = {
        "schemaVersion": manifest.body.get("schemaVersion", 2),
        "mediaType": manifest.media_type,
    }
    if manifest.body.get("artifactType"):
        body["artifactType"] = manifest.body["artifactType"]
    body["manifests"] = [d.to_json() for d in manifest.children]
    if manifest.body.get("subject"):
        body["subject"] = manifest.body["subject"]
    if manifest.annotations:
        body["annotations"] = dict(manifest.annotations)
    return go_json(body, indent="   ") + "\n"


def manifest_view(manifest: Manifest) -> str:
    """An image manifest the way docker prints one: its own keys, tab-indented."""
    return json.dumps(json.loads(manifest.raw), indent="\t", ensure_ascii=False) + "\n"


def entry_object(ref: str, descriptor: Descriptor, manifest: Manifest) -> dict[str, Any]:
    """docker's `ImageManifest` object: Ref, Descriptor, Raw and the parsed manifest."""
    out: dict[str, Any] = {
        "Ref": ref,
        "Descriptor": descriptor.to_ocispec_json(),
        "Raw": base64.b64encode(manifest.raw).decode(),
    }
    if manifest.media_type == DOCKER_MANIFEST:
        out["SchemaV2Manifest"] = json.loads(manifest.raw)
    elif manifest.media_type == OCI_MANIFEST:
        out["OCIManifest"] = json.loads(manifest.raw)
    return out


def verbose_view(entries: Sequence[ListEntry], as_list: bool) -> str:
    """`inspect --verbose`: one object for an image, an array for a list."""
    objects = [entry_object(str(e.source), e.descriptor, e.manifest) for e in entries]
    value: Any = objects if as_list else objects[0]
    return json.dumps(value, indent="\t", ensure_ascii=False) + "\n"
