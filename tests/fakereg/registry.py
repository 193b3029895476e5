"""FakeRegistry: the in-process scripted registry. A threaded HTTP/1.1 server on 127.0.0.1
serving the distribution v2 API from memory (api.py), with scripted faults (script.py), a
request log, direct state access for tests and a switchable Personality.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from rig.serving import BackgroundServer, RigHandler

from .api import Distribution
from .auth import AuthConfig
from .images import FakeImage, Media, make_image, make_list
from .personality import DISTRIBUTION, Personality
from .script import Action, Match, RequestLog, Script
from .store import Store, StoredManifest
from .wire import Request, Response, sha256_digest

S3_AUTH_REFUSED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
    b"<Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter,"
    b" Signature query string parameter or the Authorization header should be specified"
    b"</Message></Error>"
)
S3_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


class FakeRegistry:
    """Use as a context manager; `url` is http://127.0.0.1:<port>, `host` its host:port."""

    def __init__(
        self, personality: Personality = DISTRIBUTION, auth: AuthConfig | None = None
    ) -> None:
        self.store = Store()
        self.api = Distribution(self.store)
        self.api.personality = personality
        self.api.auth = auth
        self.log = RequestLog()
        self.presign_log = RequestLog()
        self._script = Script()
        self._server: BackgroundServer | None = None
        self._presign: BackgroundServer | None = None
        self._presign_host = "127.0.0.1"
        self.host = ""
        self.url = ""

    # -- lifecycle --

    def __enter__(self) -> FakeRegistry:
        self._server = BackgroundServer(_handler_for(self._serve_registry))
        self._presign_host = _second_loopback_host()
        self._presign = BackgroundServer(_handler_for(self._serve_presigned), self._presign_host)
        self.host = f"127.0.0.1:{self._server.port}"
        self.url = f"http://{self.host}"
        self.api.base_url = self.url
        self.api.presign_url = f"http://{self._presign_host}:{self._presign.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        closers = []
        for server, host in ((self._server, "127.0.0.1"), (self._presign, self._presign_host)):
            if server is not None:
                closer = threading.Thread(target=server.close)
                closer.start()
                closers.append((closer, host, server.port))
        for closer, host, port in closers:
            # serve_forever sees the shutdown request only when its select() wakes, at the
            # next 50 ms poll; a connection wakes it at once (teardown is most of a fast test).
            while closer.is_alive():
                with contextlib.suppress(OSError):
                    socket.create_connection((host, port), timeout=0.5).close()
                closer.join(0.005)

    # -- configuration --

    @property
    def personality(self) -> Personality:
        return self.api.personality

    @personality.setter
    def personality(self, value: Personality) -> None:
        self.api.personality = value

    @property
    def auth(self) -> AuthConfig | None:
        return self.api.auth

    @auth.setter
    def auth(self, value: AuthConfig | None) -> None:
        self.api.auth = value

    def refresh_token(self, user: str) -> str:
        """An identity (refresh) token for `user`, for the OAuth2 POST grant."""
        return self.api.tokens.refresh_token(user)

    # -- scripting and observation --

    def script(self, match: Match, action: Action, times: int | None = 1) -> None:
        """Apply `action` to the next `times` requests matching `match` (None = always)."""
        self._script.add(match, action, times)

    def count(
        self, method: str | None = None, path_re: str | None = None, status: int | None = None
    ) -> int:
        return self.log.count(method, path_re, status)

    def tag_puts(self, repo: str | None = None) -> int:
        """Manifest PUTs by tag (not by digest): children must go by digest, so a push of one
        list under N tags should make exactly N."""
        prefix = f"^/v2/{re.escape(repo)}" if repo else "^/v2/.+"
        return self.count("PUT", prefix + r"/manifests/(?!sha256:)[^/]+$")

    @property
    def max_in_flight(self) -> int:
        return self.log.max_in_flight

    # -- direct state access --

    def create_repo(self, repo: str) -> None:
        self.store.repo(repo, create=True)

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = sha256_digest(data)
        self.store.link_blob(repo, digest, data)
        return digest

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """Store a manifest without any checks; `ref` is a tag or its digest."""
        digest = sha256_digest(data)
        tag = None if ref.startswith("sha256:") else ref
        self.store.put_manifest(repo, StoredManifest(media_type, data, digest), tag)
        return digest

    def get_manifest(self, repo: str, ref: str) -> StoredManifest | None:
        return self.store.manifest(repo, ref)

    def tags(self, repo: str) -> dict[str, str]:
        """Tag → digest for `repo` ({} when it does not exist)."""
        with self.store.lock:
            found = self.store.repos.get(repo)
            return dict(found.tags) if found else {}

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.store.blob(repo, digest) is not None

    def uploads_open(self) -> int:
        with self.store.lock:
            return len(self.store.uploads)

    def seed_image(
        self, repo: str, platform: str, tag: str | None = None, media: Media = "docker"
    ) -> FakeImage:
        """Store a tiny one-layer image for `platform` (by digest, and under `tag`)."""
        image = make_image(platform, media)
        for blob in (image.config, image.layer):
            self.put_blob(repo, blob.data)
        self.put_manifest(repo, tag or image.digest, image.manifest.data, image.manifest.media_type)
        return image

    def seed_list(
        self, repo: str, tag: str, children: list[FakeImage], media: Media = "docker"
    ) -> str:
        """Store a list (or OCI index) of already-seeded `children` under `tag`."""
        listed = make_list(children, media)
        return self.put_manifest(repo, tag, listed.data, listed.media_type)

    # -- serving --

    def _serve_registry(self, handler: _Handler, request: Request) -> None:
        entry = self.log.begin(request)
        try:
            action = self._script.take(request) or Action()
            if action.delay:
                time.sleep(action.delay)
            if action.reset == "before":
                handler.reset()
                return
            if action.before is not None:
                action.before(request)
            response = action.answer or self.api.handle(request)
            if action.answer is not None and request.path.startswith("/v2"):
                response = response.with_headers(
                    ("Docker-Distribution-API-Version", "registry/2.0")
                )
            entry.status = response.status
            if action.after is not None:
                action.after(request)
            if action.reset == "after":
                handler.reset()
                return
            entry.delivered = handler.deliver(response, action)
        finally:
            self.log.end(entry)

    def _serve_presigned(self, handler: _Handler, request: Request) -> None:
        """The S3-like second host: refuses a forwarded Authorization, expires URLs."""
        entry = self.presign_log.begin(request)
        try:
            digest = request.path.rsplit("/", 1)[-1]
            issued = float(request.arg("X-Amz-Issued") or 0)
            data = self.store.blobs.get(digest)
            if "authorization" in request.headers:
                response = Response(400, S3_AUTH_REFUSED, (("Content-Type", "application/xml"),))
            elif time.monotonic() - issued > self.personality.presign_ttl:
                response = Response(403, S3_EXPIRED, (("Content-Type", "application/xml"),))
            elif data is None:
                response = Response(404, b"", ())
            else:
                response = Response(200, data, (("Content-Type", "application/octet-stream"),))
            entry.status = response.status
            entry.delivered = handler.deliver(response, Action())
        finally:
            self.presign_log.end(entry)


Serve = Callable[["_Handler", Request], None]


class _Handler(RigHandler):
    serve: Serve

    def _handle(self) -> None:
        body = self.read_body()
        # Repeated headers (two Accept lines) count as one comma-joined list, as in Go's
        # net/http, which distribution reads them with.
        headers: dict[str, str] = {}
        for name in {key.lower() for key in self.headers}:
            headers[name] = ", ".join(self.headers.get_all(name) or [])
        self.serve(self, Request.parse(self.command, self.path, headers, body))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def deliver(self, response: Response, action: Action) -> bool:
        """Send `response` as `action` says; False when the body was cut short."""
        if action.truncate is None and action.drip is None:
            self.send_bytes(response.status, response.body, list(response.headers))
            return True
        self.send_response_only(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command == "HEAD":
            return True
        if action.truncate is not None:
            self.wfile.write(response.body[: action.truncate])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return False
        assert action.drip is not None
        chunk, interval = action.drip
        for start in range(0, len(response.body), chunk):
            self.wfile.write(response.body[start : start + chunk])
            self.wfile.flush()
            time.sleep(interval)
        return True


def _second_loopback_host() -> str:
    """127.0.0.2 where it can be bound, so the presigned host differs by name, not only by
    port, as S3 differs from ECR."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        return "127.0.0.1"
    return "127.0.0.2"


def _handler_for(serve: Callable[..., Any]) -> Callable[..., BaseHTTPRequestHandler]:
    return type("FakeRegistryHandler", (_Handler,), {"serve": staticmethod(serve)})
