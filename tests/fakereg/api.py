"""The distribution v2 API over the in-memory Store, as distribution 2.8 answers it, with
the switches of the current Personality applied where each quirk lives.

`Distribution.handle(request)` is pure request → response; the HTTP server, scripting and
logging live in registry.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque

from . import blobs, gate, manifests
from .auth import AuthConfig, TokenBook
from .images import OCI_INDEX
from .personality import DISTRIBUTION, Personality
from .store import Store
from .tokens import token_endpoint
from .wire import Request, Response, error, json_response

NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
ROUTE = re.compile(
    r"^/v2/(?P<name>.+?)/(?:"
    r"manifests/(?P<ref>[^/]+)|blobs/uploads/(?P<upload>[^/]*)|blobs/(?P<digest>[^/]+)"
    r"|tags/(?P<tags>list)|referrers/(?P<subject>[^/]+))$"
)


class Distribution:
    """The registry's behaviour; the endpoint modules (gate, manifests, blobs) read and
    update the counters below, each under `lock`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tokens = TokenBook()
        self.personality: Personality = DISTRIBUTION
        self.auth: AuthConfig | None = None
        self.base_url = ""  # http://127.0.0.1:<port>, set by FakeRegistry
        self.presign_url = ""  # the second host blob GETs redirect to
        self.lock = threading.Lock()
        self.counted_requests = 0  # toward Personality.rate_limit_after
        self.manifest_gets = 0  # Docker Hub's pull quota
        self.flaky_left = 0  # list PUTs still to fail since the last child PUT (ACR)
        self.recent_puts: deque[float] = deque()  # manifest PUT times in the last second

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
        limited = gate.rate_limited(self, request)
        if limited is not None:
            return limited
        if request.path in ("/v2/", "/v2"):
            denied = gate.authorize(self, request, [])
            return denied or json_response(200, {})
        if request.path == "/v2/_catalog":
            denied = gate.authorize(self, request, [])
            if denied is not None:
                return denied
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
        denied = gate.authorize(self, request, gate.required_access(request, name, route))
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
            return manifests.handle_manifests(self, request, name, route["ref"])
        if route["upload"] is not None:
            return blobs.handle_upload(self, request, name, route["upload"])
        if route["digest"] is not None:
            return blobs.handle_blob(self, request, name, route["digest"])
        if route["tags"] is not None:
            return self._tags(request, name)
        return self._referrers(name, route["subject"])

    def pushed_repo(self, name: str) -> bool:
        repo = self.store.repo(name)
        return repo is not None and repo.pushed

    def note_created(self, name: str) -> None:
        """Create `name` for a client push; GHCR-style privacy applies to these only."""
        with self.store.lock:
            if self.store.repo(name) is None:
                self.store.repo(name, create=True).pushed = True  # type: ignore[union-attr]

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
