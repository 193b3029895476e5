"""Manifest endpoints: GET/HEAD with distribution's Accept negotiation, PUT with its
checks (every child, config, layer and, for GitLab, subject must be in the repository) and
the tag rules of the personalities, DELETE by tag or digest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import gate
from .images import (
    DOCKER_LIST,
    DOCKER_TYPES,
    IMAGE_TYPES,
    LIST_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_TYPES,
)
from .store import StoredManifest
from .wire import DIGEST, TAG, Request, Response, error, json_response, sha256_digest

if TYPE_CHECKING:
    from .api import Distribution

HUB_LIMIT = 100  # the pull quota the ratelimit-* headers count down from


def _manifest_unknown(ref: str) -> Response:
    return error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"Tag": ref})


def handle_manifests(api: Distribution, request: Request, name: str, ref: str) -> Response:
    if not (DIGEST.match(ref) or TAG.match(ref)):
        return error(400, "TAG_INVALID", "manifest tag did not match URI", {"Tag": ref})
    if request.method in ("GET", "HEAD"):
        return _get_manifest(api, request, name, ref)
    if request.method == "PUT":
        return _put_manifest(api, request, name, ref)
    if request.method == "DELETE":
        return _delete_manifest(api, name, ref)
    return error(405, "UNSUPPORTED", "The operation is unsupported.")


def _get_manifest(api: Distribution, request: Request, name: str, ref: str) -> Response:
    quirks = api.personality
    stored = api.store.manifest(name, ref)
    if stored is None:
        return _manifest_unknown(ref)
    if quirks.negotiate_accept:
        negotiated = _negotiate(api, request, name, ref, stored)
        if isinstance(negotiated, Response):
            return negotiated
        stored = negotiated
    headers = [("Content-Type", stored.media_type), ("Etag", f'"{stored.digest}"')]
    wants_digest = quirks.digest_on_head if request.method == "HEAD" else quirks.digest_on_get
    if wants_digest:
        headers.append(("Docker-Content-Digest", stored.digest))
    if quirks.hub_ratelimit_headers:
        with api.lock:
            if request.method == "GET":
                api.manifest_gets += 1
            remaining = max(HUB_LIMIT - api.manifest_gets, 0)
        headers += [
            ("ratelimit-limit", f"{HUB_LIMIT};w={gate.HUB_WINDOW}"),
            ("ratelimit-remaining", f"{remaining};w={gate.HUB_WINDOW}"),
            ("docker-ratelimit-source", "127.0.0.1"),
        ]
    return Response(200, stored.data, tuple(headers))


def _negotiate(
    api: Distribution, request: Request, name: str, ref: str, stored: StoredManifest
) -> StoredManifest | Response:
    """Distribution 2.8: a Docker list fetched by tag without the list type in Accept is
    answered with its linux/amd64 child; OCI documents need their type in Accept."""
    accepts = request.accepts()
    if stored.media_type == DOCKER_LIST and DOCKER_LIST not in accepts:
        if DIGEST.match(ref):
            return stored
        for entry in json.loads(stored.data).get("manifests", []):
            platform = entry.get("platform", {})
            if (platform.get("os"), platform.get("architecture")) == ("linux", "amd64"):
                child = api.store.manifest(name, entry["digest"])
                if child is not None:
                    return child
        return error(
            404,
            "MANIFEST_UNKNOWN",
            "no matching manifest for linux/amd64 in the manifest list entries",
        )
    if stored.media_type in OCI_TYPES and stored.media_type not in accepts:
        kind = "indexes" if stored.media_type == OCI_INDEX else "manifests"
        found = kind.removesuffix("es") if kind == "indexes" else kind.removesuffix("s")
        return error(
            404,
            "MANIFEST_UNKNOWN",
            f"OCI {found} found, but accept header does not support OCI {kind}",
        )
    return stored


def _put_manifest(api: Distribution, request: Request, name: str, ref: str) -> Response:
    quirks = api.personality
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    doc = _parse_manifest(api, request.body, media_type)
    if isinstance(doc, Response):
        return doc
    digest = sha256_digest(request.body)
    if DIGEST.match(ref) and ref != digest:
        return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
    tag = None if DIGEST.match(ref) else ref
    # Checks and store under one lock: a concurrent PUT cannot slip between them.
    with api.store.lock:
        refused = _check_references(api, name, media_type, doc) or _check_tag(
            api, name, tag, media_type
        )
        if refused is not None:
            return refused
        if gate.put_rate_exceeded(api):
            return error(429, "TOOMANYREQUESTS", "Rate exceeded")
        api.note_created(name)
        api.store.put_manifest(name, StoredManifest(media_type, request.body, digest), tag)
    if media_type in IMAGE_TYPES:
        with api.lock:
            api.flaky_left = quirks.flaky_list_puts
    return Response(
        201,
        headers=(
            ("Location", f"{api.base_url}/v2/{name}/manifests/{digest}"),
            ("Docker-Content-Digest", digest),
        ),
    )


def _parse_manifest(api: Distribution, body: bytes, media_type: str) -> dict[str, Any] | Response:
    """The manifest's JSON object, or the error distribution (or the personality) gives."""
    quirks = api.personality
    if quirks.oci_disabled and media_type in OCI_TYPES:
        return error(415, "MANIFEST_INVALID", "manifest schema version not supported")
    if quirks.docker_types_refused and media_type in DOCKER_TYPES:
        return error(
            400, "MANIFEST_INVALID", "manifest invalid", f"unsupported media type {media_type}"
        )
    if len(body) > quirks.max_manifest_bytes:
        if quirks.oversize_status_413:
            return error(413, "SIZE_INVALID", "manifest too big")
        return error(400, "MANIFEST_INVALID", "manifest invalid", "payload exceeds limit")
    if media_type not in MANIFEST_TYPES:
        detail = f"unsupported manifest media type {media_type!r}"
        return error(400, "MANIFEST_INVALID", "manifest invalid", detail)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        return error(400, "MANIFEST_INVALID", "manifest invalid", str(exc))
    if not isinstance(doc, dict):
        return error(400, "MANIFEST_INVALID", "manifest invalid", "not a JSON object")
    declared = doc.get("mediaType")
    if declared is not None and declared != media_type:
        detail = f"mediaType in manifest should be '{media_type}' not '{declared}'"
        return error(400, "MANIFEST_INVALID", "manifest invalid", detail)
    return doc


def _check_tag(api: Distribution, name: str, tag: str | None, media_type: str) -> Response | None:
    """Immutable tags and tag media-type locks refuse a PUT onto an existing tag."""
    quirks = api.personality
    existing = api.store.manifest(name, tag) if tag is not None else None
    if existing is None:
        return None
    if quirks.immutable is not None:
        rule = quirks.immutable
        return error(rule.status, rule.code, rule.message.format(tag=tag, repo=name))
    if quirks.tag_type_lock and existing.media_type != media_type:
        detail = f"cannot change the media type of tag {tag}"
        return error(400, "MANIFEST_INVALID", "manifest invalid", detail)
    return None


def _check_references(
    api: Distribution, name: str, media_type: str, doc: dict[str, Any]
) -> Response | None:
    """What the manifest names must be in the repository already: a list's children, an
    image's config and layers, and (GitLab) the subject."""
    quirks = api.personality
    repo = api.store.repo(name)
    have_blobs = set(repo.blobs) if repo else set()
    have_manifests = set(repo.manifests) if repo else set()
    if media_type in LIST_TYPES:
        children = [e for e in doc.get("manifests") or [] if isinstance(e, dict)]
        if quirks.strict_list_children:
            allowed = (
                ["application/vnd.docker.distribution.manifest.v2+json", DOCKER_LIST]
                if media_type == DOCKER_LIST
                else ["application/vnd.oci.image.manifest.v1+json", OCI_INDEX]
            )
            for child in children:
                if child.get("mediaType") not in allowed:
                    return error(
                        400,
                        "MANIFEST_INVALID",
                        "manifest invalid",
                        f"'{child.get('mediaType')}' is not one of {allowed}",
                    )
        missing = [c.get("digest") for c in children if c.get("digest") not in have_manifests]
        if missing:
            code = quirks.missing_child_code
            message = (
                "blob unknown to registry"
                if code == "MANIFEST_BLOB_UNKNOWN"
                else ("manifest invalid")
            )
            return json_response(
                400,
                {
                    "errors": [
                        {"code": code, "message": message, "detail": digest} for digest in missing
                    ]
                },
            )
        with api.lock:
            flaky = api.flaky_left > 0
            api.flaky_left -= 1 if flaky else 0
        if flaky and children:
            return error(
                400,
                "MANIFEST_BLOB_UNKNOWN",
                "blob unknown to registry",
                children[0].get("digest"),
            )
    elif media_type in IMAGE_TYPES:
        config = doc.get("config") or {}
        if quirks.config_media_types is not None and (
            config.get("mediaType") not in quirks.config_media_types
        ):
            return error(400, "MANIFEST_INVALID", f"unknown media type: {config.get('mediaType')}")
        wanted = [config.get("digest")] + [
            layer.get("digest") for layer in doc.get("layers") or [] if not layer.get("urls")
        ]
        missing = [d for d in wanted if d not in have_blobs]
        if missing:
            return json_response(
                400,
                {
                    "errors": [
                        {
                            "code": "MANIFEST_BLOB_UNKNOWN",
                            "message": "blob unknown to registry",
                            "detail": digest,
                        }
                        for digest in missing
                    ]
                },
            )
    subject = doc.get("subject")
    if (
        quirks.subject_must_exist
        and isinstance(subject, dict)
        and (subject.get("digest") not in have_manifests)
    ):
        return error(
            400,
            "MANIFEST_BLOB_UNKNOWN",
            f"blob unknown to registry – {subject.get('digest')}",
            subject.get("digest"),
        )
    return None


def _delete_manifest(api: Distribution, name: str, ref: str) -> Response:
    with api.store.lock:
        repo = api.store.repo(name)
        if repo is None or api.store.manifest(name, ref) is None:
            return _manifest_unknown(ref)
        if DIGEST.match(ref):
            del repo.manifests[ref]
            repo.tags = {t: d for t, d in repo.tags.items() if d != ref}
        else:
            del repo.tags[ref]
    return Response(202)
