"""Blob endpoints: HEAD/GET (or, for ECR, a redirect to the presigned host), and uploads:
POST (cross-repository mount, monolithic `?digest=`), PATCH, PUT, status and cancel."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from .wire import DIGEST, Request, Response, error, sha256_digest

if TYPE_CHECKING:
    from .api import Distribution


def handle_blob(api: Distribution, request: Request, name: str, digest: str) -> Response:
    if not DIGEST.match(digest):
        return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
    data = api.store.blob(name, digest)
    if data is None:
        return error(404, "BLOB_UNKNOWN", "blob unknown to registry", digest)
    if request.method == "DELETE":
        with api.store.lock:
            api.store.repos[name].blobs.discard(digest)
        return Response(202)
    if request.method not in ("GET", "HEAD"):
        return error(405, "UNSUPPORTED", "The operation is unsupported.")
    if request.method == "GET" and api.personality.blob_redirect:
        issued = f"{time.monotonic():.3f}"
        location = f"{api.presign_url}/bucket/{digest}?X-Amz-Issued={issued}&X-Amz-Sig=fake"
        return Response(307, headers=(("Location", location),))
    return Response(
        200,
        data,
        (
            ("Content-Type", "application/octet-stream"),
            ("Docker-Content-Digest", digest),
            ("Etag", f'"{digest}"'),
        ),
    )


def handle_upload(api: Distribution, request: Request, name: str, upload_id: str) -> Response:
    if request.method == "POST" and not upload_id:
        return _start_upload(api, request, name)
    with api.store.lock:
        upload = api.store.uploads.get(upload_id)
    if upload is None or upload.repo != name:
        return error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
    if request.method == "GET":
        return Response(204, headers=_upload_headers(api, name, upload_id, len(upload.data)))
    if request.method == "DELETE":
        with api.store.lock:
            api.store.uploads.pop(upload_id, None)
        return Response(204)
    if request.method == "PATCH":
        return _patch_upload(api, request, name, upload_id)
    if request.method == "PUT":
        with api.store.lock:
            upload.data += request.body
            data = bytes(upload.data)
        return _commit(api, name, request.arg("digest"), data, upload_id)
    return error(405, "UNSUPPORTED", "The operation is unsupported.")


def _upload_headers(
    api: Distribution, name: str, upload_id: str, size: int
) -> tuple[tuple[str, str], ...]:
    return (
        ("Location", f"{api.base_url}/v2/{name}/blobs/uploads/{upload_id}?_state={upload_id}"),
        ("Range", f"0-{max(size - 1, 0)}"),
        ("Docker-Upload-UUID", upload_id),
    )


def _start_upload(api: Distribution, request: Request, name: str) -> Response:
    quirks = api.personality
    mount, source = request.arg("mount"), request.arg("from")
    if mount and source:
        if quirks.mount_from_missing_401 and api.store.repo(source) is None:
            project = source.split("/")[0]
            return error(401, "UNAUTHORIZED", f"project {project} not found")
        with api.store.lock:
            mounted = _mountable(api, mount, source)
            if mounted:
                api.note_created(name)
                api.store.link_blob(name, mount, api.store.blobs[mount])
        if mounted:
            return Response(
                201,
                headers=(
                    ("Location", f"{api.base_url}/v2/{name}/blobs/{mount}"),
                    ("Docker-Content-Digest", mount),
                ),
            )
    api.note_created(name)
    digest = request.arg("digest")
    if digest is not None:
        return _commit(api, name, digest, request.body, None)
    upload_id = api.store.open_upload(name)
    return Response(202, headers=_upload_headers(api, name, upload_id, 0))


def _mountable(api: Distribution, digest: str, source: str) -> bool:
    mode = api.personality.mount_mode
    if mode == "never" or api.store.blob(source, digest) is None:
        return False
    if mode == "ok":
        return True
    repo = api.store.repo(source)
    assert repo is not None
    for manifest in list(repo.manifests.values()):
        doc = json.loads(manifest.data)
        refs = [(doc.get("config") or {}).get("digest")]
        refs += [layer.get("digest") for layer in doc.get("layers") or []]
        if digest in refs:
            return True
    return False


def _patch_upload(api: Distribution, request: Request, name: str, upload_id: str) -> Response:
    quirks = api.personality
    content_range = request.headers.get("content-range")
    with api.store.lock:
        upload = api.store.uploads[upload_id]
        if content_range is not None:
            # A 416 says where the upload stands, so a client can resume from there.
            where = (("Range", f"0-{max(len(upload.data) - 1, 0)}"),)
            if quirks.bare_content_range and content_range.startswith("bytes "):
                return error(416, "BLOB_UPLOAD_INVALID", "invalid content range", None, where)
            start, _, _ = content_range.removeprefix("bytes ").partition("-")
            if not start.isdigit() or int(start) != len(upload.data):
                return error(
                    416, "BLOB_UPLOAD_INVALID", "requested range not satisfiable", None, where
                )
        upload.data += request.body
        size = len(upload.data)
        if quirks.ecr_chunks:
            upload.frozen_range = upload.frozen_range or size
            size = upload.frozen_range
    return Response(
        201 if quirks.ecr_chunks else 202, headers=_upload_headers(api, name, upload_id, size)
    )


def _commit(
    api: Distribution, name: str, digest: str | None, data: bytes, upload_id: str | None
) -> Response:
    if upload_id is not None:
        with api.store.lock:
            api.store.uploads.pop(upload_id, None)
    if digest is None or not DIGEST.match(digest):
        return error(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            "digest missing or malformed",
        )
    if sha256_digest(data) != digest:
        return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
    api.store.link_blob(name, digest, data)
    return Response(
        201,
        headers=(
            ("Location", f"{api.base_url}/v2/{name}/blobs/{digest}"),
            ("Docker-Content-Digest", digest),
        ),
    )
