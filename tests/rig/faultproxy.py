"""A loopback reverse proxy in front of a registry that logs traffic and injects faults.

`FaultProxy` forwards requests byte-faithfully (repeated headers kept) and can answer a status,
reset, truncate or redirect instead; `BlobMirror` is a second host serving blobs for redirects.
"""

from __future__ import annotations

import functools
import http.client
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .images import RigClient
from .serving import BackgroundServer, RigHandler

if TYPE_CHECKING:
    from .registry import RegistryProcess

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "expect",
}  # fmt: skip
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}  # Host and framing are set anew
Headers = list[tuple[str, str]]
Match = Callable[[str, str], bool] | tuple[str | None, str]


# -- fault actions --


@dataclass(frozen=True)
class Action:
    """What to do instead of (or to) a forwarded request; build with the functions below."""

    kind: str  # "status" | "reset" | "lose" | "truncate" | "redirect" | "drop_header"
    status: int = 0
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    url_base: str = ""


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Action:
    """Answer `code` (e.g. 429 with {"Retry-After": "1"}, 503) without forwarding."""
    return Action("status", status=code, headers=list((headers or {}).items()), body=body)


def reset() -> Action:
    """Close the connection abruptly with no response (SO_LINGER 0 → TCP RST)."""
    return Action("reset")


def lose() -> Action:
    """Forward (the registry does the work), then reset the connection instead of replying."""
    return Action("lose")


def truncate() -> Action:
    """Forward, then send the full headers but only half the body, then close."""
    return Action("truncate")


def drop_header(name: str) -> Action:
    """Forward, and leave the header `name` out of the reply (a registry that omits it)."""
    return Action("drop_header", headers=[(name.lower(), "")])


def redirect(url_base: str) -> Action:
    """Answer 307 with Location = url_base + the original path and query."""
    return Action("redirect", url_base=url_base.rstrip("/"))


@dataclass
class _Fault:
    match: Callable[[str, str], bool]
    action: Action
    times: int


def _matcher(match: Match) -> Callable[[str, str], bool]:
    if callable(match):
        return match
    method, pattern = match
    regex = re.compile(pattern)
    return lambda m, p: (method is None or m.upper() == method.upper()) and bool(regex.search(p))


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    query: str
    headers: Headers  # as received, repeated headers kept in order
    status: int | None  # None when the connection was reset
    fault: str | None  # Action.kind when a fault was applied

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class FaultProxy:
    """Reverse proxy on http://127.0.0.1:<port> in front of `upstream_url`."""

    def __init__(
        self, upstream_url: str, *, ca_file: Path | str | None = None, latency: float = 0.0
    ):
        upstream = urlsplit(upstream_url)
        self.upstream_url = upstream_url.rstrip("/")
        self.upstream_scheme = upstream.scheme
        self.upstream_netloc = upstream.netloc
        self._ssl_context = (
            ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if upstream.scheme == "https"
            else None
        )
        self.latency = latency
        self.requests: list[ProxiedRequest] = []
        self.connections = 0
        self.in_flight = 0  # requests being handled right now
        self.peak_in_flight = 0  # the most handled at once since the last reset()
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = BackgroundServer(functools.partial(_ProxyHandler, proxy=self))
        self.host = f"127.0.0.1:{self._server.port}"
        self.url = f"http://{self.host}"

    def add_fault(self, match: Match, action: Action, times: int = 1) -> None:
        """Apply `action` to the next `times` requests matching a callable or (method, regex)."""
        with self._lock:
            self._faults.append(_Fault(_matcher(match), action, times))

    def faults_left(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)

    def reset(self) -> None:
        """Clear the request log, the connection count, the peak in flight and pending faults."""
        with self._lock:
            self.requests.clear()
            self.connections = 0
            self.peak_in_flight = self.in_flight
            self._faults.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler threads --

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _request_started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _request_ended(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _take_fault(self, method: str, path: str) -> Action | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.match(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault.action
        return None

    def _log(self, entry: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _forward(self, method: str, target: str, headers: Headers, body: bytes):
        """Send to upstream; returns (status, reason, headers, body)."""
        connection = (
            http.client.HTTPSConnection(self.upstream_netloc, context=self._ssl_context, timeout=60)
            if self._ssl_context
            else http.client.HTTPConnection(self.upstream_netloc, timeout=60)
        )
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", self.upstream_netloc)
            for name, value in headers:
                if name.lower() not in NOT_FORWARDED:
                    connection.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def _rewrite_location(self, value: str) -> str:
        if value.startswith(self.upstream_url):
            return self.url + value[len(self.upstream_url) :]
        return value


def _is_tls_hello(sock: socket.socket) -> bool | None:
    """Peek the first byte: True for a TLS record (0x16), None if the client sent nothing."""
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return None
    return first == b"\x16" if first else None


class _ProxyHandler(RigHandler):
    def __init__(self, *args: Any, proxy: FaultProxy, **kwargs: Any):
        self.proxy = proxy
        super().__init__(*args, **kwargs)

    def handle(self) -> None:
        accepted = time.monotonic()
        self.proxy._count_connection()
        hello = _is_tls_hello(self.connection)
        if hello is None:
            return
        if hello:  # like Go's server, so the docker CLI falls back from HTTPS to HTTP
            self.connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            return
        # A new connection costs `latency` once, counted from its accept, as a handshake's
        # round trip would: a connection opened ahead of its first request (and peeked at
        # only when that request came) has paid it already.
        wait = self.proxy.latency - (time.monotonic() - accepted)
        if wait > 0:
            time.sleep(wait)
        super().handle()

    def _reset_connection(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop makefile()'s reference so close() really closes (→ RST)
        self.connection.close()
        self.close_connection = True

    def _proxy(self) -> None:
        self.proxy._request_started()
        self._in_flight = True
        try:
            self._handle_request()
        finally:
            self._request_done()

    def _request_done(self) -> None:
        # At the log, before the reply goes out: a client may send its next request as soon
        # as it has the reply, and that must not count as two in flight.
        if self._in_flight:
            self._in_flight = False
            self.proxy._request_ended()

    def _handle_request(self) -> None:
        proxy = self.proxy
        body = self.read_body()
        target = self.path
        path, _, query = target.partition("?")
        received = list(self.headers.items())
        if proxy.latency:
            time.sleep(proxy.latency)
        action = proxy._take_fault(self.command, path)

        def log(code: int | None) -> None:
            proxy._log(
                ProxiedRequest(
                    self.command, path, query, received, code, action.kind if action else None
                )
            )
            self._request_done()

        if action and action.kind == "reset":
            log(None)
            self._reset_connection()
            return
        if action and action.kind == "status":
            log(action.status)
            self.send_bytes(action.status, action.body, action.headers)
            return
        if action and action.kind == "redirect":
            log(307)
            self.send_bytes(307, headers=[("Location", action.url_base + target)])
            return
        try:
            code, reason, headers, content = proxy._forward(self.command, target, received, body)
        except (OSError, http.client.HTTPException) as exc:
            log(502)
            self.send_bytes(502, f"upstream error: {exc}\n".encode(), content_type="text/plain")
            return
        log(code)
        if action and action.kind == "lose":
            self._reset_connection()
            return
        self.send_response_only(code, reason)
        for name, value in headers:
            lowered = name.lower()
            if lowered in HOP_BY_HOP or (lowered == "content-length" and self.command != "HEAD"):
                continue
            if action and action.kind == "drop_header" and lowered == action.headers[0][0]:
                continue
            self.send_header(
                name, proxy._rewrite_location(value) if lowered == "location" else value
            )
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if action and action.kind == "truncate":
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(content)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy


class BlobMirror:
    """A blob server on another loopback host (127.0.0.2) that records request headers.

    Serves GET/HEAD `[/<prefix>]/v2/<repo>/blobs/<digest>` by fetching the blob from
    `registry` with the rig's own admin credentials (so redirects can land here).
    """

    def __init__(self, registry: RegistryProcess):
        self.client = RigClient(registry)
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        handler = functools.partial(_MirrorHandler, mirror=self)
        try:
            self._server = BackgroundServer(handler, host="127.0.0.2")
            self.url = f"http://127.0.0.2:{self._server.port}"
        except OSError:  # no 127.0.0.2: a different host *name* still counts as another host
            self._server = BackgroundServer(handler, host="127.0.0.1")
            self.url = f"http://localhost:{self._server.port}"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.close()
        self.client.close()

    def __enter__(self) -> BlobMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, entry: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(entry)


class _MirrorHandler(RigHandler):
    _BLOB = re.compile(r"^.*?/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")

    def __init__(self, *args: Any, mirror: BlobMirror, **kwargs: Any):
        self.mirror = mirror
        super().__init__(*args, **kwargs)

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        match = self._BLOB.match(path)
        code, content, headers = 404, b"", []
        if match:
            upstream = self.mirror.client.get_blob(match["repo"], match["digest"])
            if upstream.status_code == 200:
                code, content = 200, upstream.content
                headers = [("Docker-Content-Digest", match["digest"])]
        self.mirror._log(
            ProxiedRequest(self.command, path, query, list(self.headers.items()), code, None)
        )
        self.send_bytes(code, content, headers, content_type="application/octet-stream")

    do_GET = do_HEAD = _serve
