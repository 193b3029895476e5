"""The distribution v2 API over the in-memory Store, as distribution 2.8 answers it, with
the switches of the current Personality applied where each quirk lives.

`Distribution.handle(request)` is pure request → response; the HTTP server, scripting and
logging live in registry.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from typing import Any

from .auth import AuthConfig, TokenBook, basic_user
from .images import DOCKER_LIST, IMAGE_TYPES, LIST_TYPES, MANIFEST_TYPES, OCI_INDEX, OCI_TYPES
from .personality import DISTRIBUTION, Personality
from .store import Store, StoredManifest
from .tokens import token_endpoint
from .wire import Request, Response, error, json_response, sha256_digest

NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
ROUTE = re.compile(
    r"^/v2/(?P<name>.+?)/(?:"
    r"manifests/(?P<ref>[^/]+)|blobs/uploads/(?P<upload>[^/]*)|blobs/(?P<digest>[^/]+)"
    r"|tags/(?P<tags>list)|referrers/(?P<subject>[^/]+))$"
)
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
HUB_WINDOW = 21600
HUB_LIMIT = 100


def _manifest_unknown(ref: str) -> Response:
    return error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"Tag": ref})


class Distribution:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.tokens = TokenBook()
        self.personality: Personality = DISTRIBUTION
        self.auth: AuthConfig | None = None
        self.base_url = ""  # http://127.0.0.1:<port>, set by FakeRegistry
        self.presign_url = ""  # the second host blob GETs redirect to
        self._lock = threading.Lock()
        self._requests = 0
        self._manifest_gets = 0
        self._flaky_left = 0
        self._recent_puts: deque[float] = deque()

    # -- entry --

    def handle(self, request: Request) -> Response:
        if request.path == "/token":
            return token_endpoint(self, request)
        response = self._route(request)
        if request.path.startswith("/v2"):
            response = response.with_headers(("Docker-Distribution-API-Version", "registry/2.0"))
        if self.personality.status_error_bodies:
            response = _status_shaped(response)
        return response

    def _route(self, request: Request) -> Response:
        quirks = self.personality
        limited = self._rate_limited(request)
        if limited is not None:
            return limited
        if request.path in ("/v2/", "/v2"):
            denied = self._authorize(request, [])
            return denied or json_response(200, {})
        if request.path == "/v2/_catalog":
            with self.store.lock:
                return json_response(200, {"repositories": sorted(self.store.repos)})
        route = ROUTE.match(request.path)
        if route is None:
            return error(404, "NOT_FOUND", "not found")
        name = route["name"]
        if not re.fullmatch(NAME, name) or len(name) > 255:
            return error(400, "NAME_INVALID", "invalid repository name", {"Name": name})
        if quirks.max_depth is not None and name.count("/") + 1 > quirks.max_depth:
            return error(
                404, "NAME_UNKNOWN", "repository name not known to registry", {"Name": name}
            )
        denied = self._authorize(request, self._needed(request, name, route))
        if denied is not None:
            return denied
        if quirks.strict_accept_blobs and "/blobs/" in request.path:
            accept = request.headers.get("accept", "*/*").strip()
            if accept not in ("", "*/*"):
                return error(406, "NOT_ACCEPTABLE", f"Accept {accept!r} not acceptable")
        if not quirks.auto_create and self.store.repo(name) is None:
            return error(
                404, "NAME_UNKNOWN", quirks.name_unknown_message.format(repo=name), {"Name": name}
            )
        if route["ref"] is not None:
            return self._manifests(request, name, route["ref"])
        if route["upload"] is not None:
            return self._uploads(request, name, route["upload"])
        if route["digest"] is not None:
            return self._blobs(request, name, route["digest"])
        if route["tags"] is not None:
            return self._tags(request, name)
        return self._referrers(name, route["subject"])

    def pushed_repo(self, name: str) -> bool:
        repo = self.store.repo(name)
        return repo is not None and repo.pushed

    # -- auth --

    @staticmethod
    def _needed(request: Request, name: str, route: re.Match[str]) -> list[tuple[str, str]]:
        if request.method in ("GET", "HEAD"):
            return [(name, "pull")]
        if request.method == "DELETE" and route["upload"] is None:
            return [(name, "delete")]
        needed = [(name, "pull"), (name, "push")]
        source = request.arg("from")
        if request.arg("mount") and source:
            needed.append((source, "pull"))
        return needed

    def _authorize(self, request: Request, needed: list[tuple[str, str]]) -> Response | None:
        auth = self.auth
        if auth is None:
            return None
        header = request.headers.get("authorization", "")
        if auth.scheme == "basic":
            credentials = basic_user(header)
            user = None
            if credentials is not None:
                user, password = credentials
                if auth.users.get(user) != password:
                    return self._challenge(needed, "invalid credentials")
            if credentials is None and (not needed or not self._basic_ok(None, needed)):
                return self._challenge(needed, "authentication required")
            if needed and not self._basic_ok(user, needed):
                return error(403, "DENIED", "requested access to the resource is denied")
            return None
        if header.lower().startswith("basic ") and self.personality.bearer_only:
            return error(403, "DENIED", "Your Authorization Token is invalid.")
        if not header.lower().startswith("bearer "):
            return self._challenge(needed, "authentication required")
        token = self.tokens.use(header[7:].strip())
        if token is None:
            return self._challenge(needed, "invalid token", "invalid_token")
        quirks = self.personality
        age = time.monotonic() - token.issued
        if (quirks.token_max_uses is not None and token.uses > quirks.token_max_uses) or (
            quirks.token_ttl is not None and age > quirks.token_ttl
        ):
            return self._challenge(
                needed,
                "Your authorization token has expired. Reauthenticate and try again.",
                "invalid_token",
                code="DENIED",
            )
        if any(action not in token.access.get(repo, set()) for repo, action in needed):
            return self._challenge(needed, "authorization failed", "insufficient_scope")
        return None

    def _basic_ok(self, user: str | None, needed: list[tuple[str, str]]) -> bool:
        assert self.auth is not None
        return all(action in self.auth.allowed(user, repo) for repo, action in needed)

    def _challenge(
        self,
        needed: list[tuple[str, str]],
        message: str,
        token_error: str | None = None,
        code: str = "UNAUTHORIZED",
    ) -> Response:
        assert self.auth is not None
        if self.auth.scheme == "basic":
            challenge = 'Basic realm="fakereg"'
        else:
            by_repo: dict[str, list[str]] = {}
            for repo, action in needed:
                by_repo.setdefault(repo, []).append(action)
            scope = " ".join(f"repository:{r}:{','.join(a)}" for r, a in by_repo.items())
            challenge = f'Bearer realm="{self.base_url}/token",service="{self.auth.service}"'
            if scope:
                challenge += f',scope="{scope}"'
            if token_error:
                challenge += f',error="{token_error}"'
        detail = [{"Type": "repository", "Name": r, "Action": a} for r, a in needed] or None
        return error(401, code, message, detail, (("WWW-Authenticate", challenge),))

    # -- rate limits --

    def _rate_limited(self, request: Request) -> Response | None:
        quirks = self.personality
        if quirks.rate_limit is None:
            return None
        manifest_get = request.method == "GET" and "/manifests/" in request.path
        with self._lock:
            if quirks.rate_limit == "hub_pull" and not manifest_get:
                return None
            self._requests += 1
            if self._requests <= quirks.rate_limit_after:
                return None
        if quirks.rate_limit == "hub_pull":
            window = f"{quirks.rate_limit_after};w={HUB_WINDOW}"
            return error(
                429,
                "TOOMANYREQUESTS",
                "You have reached your unauthenticated pull rate limit."
                " https://www.docker.com/increase-rate-limit",
                headers=(
                    ("ratelimit-limit", window),
                    ("ratelimit-remaining", f"0;w={HUB_WINDOW}"),
                    ("docker-ratelimit-source", "127.0.0.1"),
                ),
            )
        if quirks.rate_limit == "hub_abuse":
            return Response(
                429,
                b"Too Many Requests (HAP429).\n",
                (("Content-Type", "text/plain"), ("Retry-After", "60")),
            )
        if quirks.rate_limit == "ghcr":
            return error(429, "TOOMANYREQUESTS", "retry-after: 12.5ms, allowed: 2000/minute")
        return error(403, "DENIED", "You have exceeded a secondary rate limit")

    def _put_rate_exceeded(self) -> bool:
        limit = self.personality.put_rate_per_second
        if limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            while self._recent_puts and now - self._recent_puts[0] > 1.0:
                self._recent_puts.popleft()
            if len(self._recent_puts) >= limit:
                return True
            self._recent_puts.append(now)
        return False

    # -- manifests --

    def _manifests(self, request: Request, name: str, ref: str) -> Response:
        if not (DIGEST.match(ref) or TAG.match(ref)):
            return error(400, "TAG_INVALID", "manifest tag did not match URI", {"Tag": ref})
        if request.method in ("GET", "HEAD"):
            return self._get_manifest(request, name, ref)
        if request.method == "PUT":
            return self._put_manifest(request, name, ref)
        if request.method == "DELETE":
            return self._delete_manifest(name, ref)
        return error(405, "UNSUPPORTED", "The operation is unsupported.")

    def _get_manifest(self, request: Request, name: str, ref: str) -> Response:
        quirks = self.personality
        stored = self.store.manifest(name, ref)
        if stored is None:
            return _manifest_unknown(ref)
        if quirks.negotiate_accept:
            negotiated = self._negotiate(request, name, ref, stored)
            if isinstance(negotiated, Response):
                return negotiated
            stored = negotiated
        headers = [("Content-Type", stored.media_type), ("Etag", f'"{stored.digest}"')]
        wants_digest = quirks.digest_on_head if request.method == "HEAD" else quirks.digest_on_get
        if wants_digest:
            headers.append(("Docker-Content-Digest", stored.digest))
        if quirks.hub_ratelimit_headers:
            with self._lock:
                if request.method == "GET":
                    self._manifest_gets += 1
                remaining = max(HUB_LIMIT - self._manifest_gets, 0)
            headers += [
                ("ratelimit-limit", f"{HUB_LIMIT};w={HUB_WINDOW}"),
                ("ratelimit-remaining", f"{remaining};w={HUB_WINDOW}"),
                ("docker-ratelimit-source", "127.0.0.1"),
            ]
        return Response(200, stored.data, tuple(headers))

    def _negotiate(
        self, request: Request, name: str, ref: str, stored: StoredManifest
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
                    child = self.store.manifest(name, entry["digest"])
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

    def _put_manifest(self, request: Request, name: str, ref: str) -> Response:
        quirks = self.personality
        body = request.body
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        if quirks.oci_disabled and media_type in OCI_TYPES:
            return error(415, "MANIFEST_INVALID", "manifest schema version not supported")
        if len(body) > quirks.max_manifest_bytes:
            if quirks.oversize_status_413:
                return error(413, "SIZE_INVALID", "manifest too big")
            return error(400, "MANIFEST_INVALID", "manifest invalid", "payload exceeds limit")
        if media_type not in MANIFEST_TYPES:
            return error(
                400,
                "MANIFEST_INVALID",
                "manifest invalid",
                f"unsupported manifest media type {media_type!r}",
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            return error(400, "MANIFEST_INVALID", "manifest invalid", str(exc))
        if not isinstance(doc, dict):
            return error(400, "MANIFEST_INVALID", "manifest invalid", "not a JSON object")
        declared = doc.get("mediaType")
        if declared is not None and declared != media_type:
            return error(
                400,
                "MANIFEST_INVALID",
                "manifest invalid",
                f"mediaType in manifest should be '{media_type}' not '{declared}'",
            )
        digest = sha256_digest(body)
        if DIGEST.match(ref) and ref != digest:
            return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        refused = self._check_references(name, media_type, doc)
        if refused is not None:
            return refused
        if not DIGEST.match(ref):
            existing = self.store.manifest(name, ref)
            if existing is not None and quirks.immutable is not None:
                rule = quirks.immutable
                return error(rule.status, rule.code, rule.message.format(tag=ref, repo=name))
            if (
                existing is not None
                and quirks.tag_type_lock
                and (existing.media_type != media_type)
            ):
                return error(
                    400,
                    "MANIFEST_INVALID",
                    "manifest invalid",
                    f"cannot change the media type of tag {ref}",
                )
        if self._put_rate_exceeded():
            return error(429, "TOOMANYREQUESTS", "Rate exceeded")
        self._note_created(name)
        tag = None if DIGEST.match(ref) else ref
        self.store.put_manifest(name, StoredManifest(media_type, body, digest), tag)
        if media_type in IMAGE_TYPES:
            with self._lock:
                self._flaky_left = quirks.flaky_list_puts
        return Response(
            201,
            headers=(
                ("Location", f"{self.base_url}/v2/{name}/manifests/{digest}"),
                ("Docker-Content-Digest", digest),
            ),
        )

    def _check_references(self, name: str, media_type: str, doc: dict[str, Any]) -> Response | None:
        quirks = self.personality
        repo = self.store.repo(name)
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
                            {"code": code, "message": message, "detail": digest}
                            for digest in missing
                        ]
                    },
                )
            with self._lock:
                flaky = self._flaky_left > 0
                self._flaky_left -= 1 if flaky else 0
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
                return error(
                    400, "MANIFEST_INVALID", f"unknown media type: {config.get('mediaType')}"
                )
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

    def _delete_manifest(self, name: str, ref: str) -> Response:
        with self.store.lock:
            repo = self.store.repo(name)
            if repo is None or self.store.manifest(name, ref) is None:
                return _manifest_unknown(ref)
            if DIGEST.match(ref):
                del repo.manifests[ref]
                repo.tags = {t: d for t, d in repo.tags.items() if d != ref}
            else:
                del repo.tags[ref]
        return Response(202)

    # -- blobs --

    def _blobs(self, request: Request, name: str, digest: str) -> Response:
        if not DIGEST.match(digest):
            return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        data = self.store.blob(name, digest)
        if data is None:
            return error(404, "BLOB_UNKNOWN", "blob unknown to registry", digest)
        if request.method == "DELETE":
            with self.store.lock:
                self.store.repos[name].blobs.discard(digest)
            return Response(202)
        if request.method not in ("GET", "HEAD"):
            return error(405, "UNSUPPORTED", "The operation is unsupported.")
        if request.method == "GET" and self.personality.blob_redirect:
            issued = f"{time.monotonic():.3f}"
            location = f"{self.presign_url}/bucket/{digest}?X-Amz-Issued={issued}&X-Amz-Sig=fake"
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

    def _note_created(self, name: str) -> None:
        """Create `name` for a client push; GHCR-style privacy applies to these only."""
        with self.store.lock:
            if self.store.repo(name) is None:
                self.store.repo(name, create=True).pushed = True  # type: ignore[union-attr]

    def _uploads(self, request: Request, name: str, upload_id: str) -> Response:
        if request.method == "POST" and not upload_id:
            return self._start_upload(request, name)
        with self.store.lock:
            upload = self.store.uploads.get(upload_id)
        if upload is None or upload.repo != name:
            return error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        if request.method == "GET":
            return Response(204, headers=self._upload_headers(name, upload_id, len(upload.data)))
        if request.method == "DELETE":
            with self.store.lock:
                self.store.uploads.pop(upload_id, None)
            return Response(204)
        if request.method == "PATCH":
            return self._patch_upload(request, name, upload_id)
        if request.method == "PUT":
            with self.store.lock:
                upload.data += request.body
                data = bytes(upload.data)
            return self._commit(name, request.arg("digest"), data, upload_id)
        return error(405, "UNSUPPORTED", "The operation is unsupported.")

    def _upload_headers(self, name: str, upload_id: str, size: int) -> tuple[tuple[str, str], ...]:
        return (
            ("Location", f"{self.base_url}/v2/{name}/blobs/uploads/{upload_id}?_state={upload_id}"),
            ("Range", f"0-{max(size - 1, 0)}"),
            ("Docker-Upload-UUID", upload_id),
        )

    def _start_upload(self, request: Request, name: str) -> Response:
        quirks = self.personality
        mount, source = request.arg("mount"), request.arg("from")
        if mount and source:
            if quirks.mount_from_missing_401 and self.store.repo(source) is None:
                project = source.split("/")[0]
                return error(401, "UNAUTHORIZED", f"project {project} not found")
            if self._mountable(mount, source):
                self._note_created(name)
                self.store.link_blob(name, mount, self.store.blobs[mount])
                return Response(
                    201,
                    headers=(
                        ("Location", f"{self.base_url}/v2/{name}/blobs/{mount}"),
                        ("Docker-Content-Digest", mount),
                    ),
                )
        self._note_created(name)
        digest = request.arg("digest")
        if digest is not None:
            return self._commit(name, digest, request.body, None)
        upload_id = self.store.open_upload(name)
        return Response(202, headers=self._upload_headers(name, upload_id, 0))

    def _mountable(self, digest: str, source: str) -> bool:
        mode = self.personality.mount_mode
        if mode == "never" or self.store.blob(source, digest) is None:
            return False
        if mode == "ok":
            return True
        repo = self.store.repo(source)
        assert repo is not None
        for manifest in list(repo.manifests.values()):
            doc = json.loads(manifest.data)
            refs = [(doc.get("config") or {}).get("digest")]
            refs += [layer.get("digest") for layer in doc.get("layers") or []]
            if digest in refs:
                return True
        return False

    def _patch_upload(self, request: Request, name: str, upload_id: str) -> Response:
        quirks = self.personality
        content_range = request.headers.get("content-range")
        with self.store.lock:
            upload = self.store.uploads[upload_id]
            if content_range is not None:
                if quirks.bare_content_range and content_range.startswith("bytes "):
                    return error(416, "BLOB_UPLOAD_INVALID", "invalid content range")
                start, _, _ = content_range.removeprefix("bytes ").partition("-")
                if not start.isdigit() or int(start) != len(upload.data):
                    return error(416, "BLOB_UPLOAD_INVALID", "requested range not satisfiable")
            upload.data += request.body
            size = len(upload.data)
            if quirks.ecr_chunks:
                upload.frozen_range = upload.frozen_range or size
                size = upload.frozen_range
        return Response(
            201 if quirks.ecr_chunks else 202, headers=self._upload_headers(name, upload_id, size)
        )

    def _commit(
        self, name: str, digest: str | None, data: bytes, upload_id: str | None
    ) -> Response:
        if upload_id is not None:
            with self.store.lock:
                self.store.uploads.pop(upload_id, None)
        if digest is None or not DIGEST.match(digest):
            return error(
                400,
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
                "digest missing or malformed",
            )
        if sha256_digest(data) != digest:
            return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        self.store.link_blob(name, digest, data)
        return Response(
            201,
            headers=(
                ("Location", f"{self.base_url}/v2/{name}/blobs/{digest}"),
                ("Docker-Content-Digest", digest),
            ),
        )

    # -- tags, referrers --

    def _tags(self, request: Request, name: str) -> Response:
        repo = self.store.repo(name)
        if repo is None:
            return error(
                404, "NAME_UNKNOWN", "repository name not known to registry", {"Name": name}
            )
        with self.store.lock:
            tags = sorted(repo.tags)
        last = request.arg("last")
        if last:
            tags = [t for t in tags if t > last]
        limit = request.arg("n")
        headers: tuple[tuple[str, str], ...] = ()
        if limit is not None and limit.isdigit():
            page = int(limit)
            if len(tags) > page:
                tags = tags[:page]
                link = f'</v2/{name}/tags/list?last={tags[-1]}&n={page}>; rel="next"'
                headers = (("Link", link),)
        return json_response(200, {"name": name, "tags": tags}, headers)

    def _referrers(self, name: str, subject: str) -> Response:
        if not self.personality.referrers_api:
            return error(404, "NOT_FOUND", "not found")
        repo = self.store.repo(name)
        entries = []
        for manifest in list(repo.manifests.values()) if repo else []:
            doc = json.loads(manifest.data)
            if (doc.get("subject") or {}).get("digest") == subject:
                entries.append(
                    {
                        "mediaType": manifest.media_type,
                        "digest": manifest.digest,
                        "size": len(manifest.data),
                    }
                )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return Response(200, json.dumps(index).encode(), (("Content-Type", OCI_INDEX),))


def _status_shaped(response: Response) -> Response:
    """Artifactory's error body: `status` (the HTTP code) where distribution has `code`."""
    if response.status < 400 or response.header("content-type") != "application/json":
        return response
    try:
        errors = json.loads(response.body)["errors"]
    except (ValueError, KeyError, TypeError):
        return response
    shaped = [{"status": response.status, "message": e.get("message", "")} for e in errors]
    return Response(response.status, json.dumps({"errors": shaped}).encode(), response.headers)
