"""Shared plumbing for the rig's in-process HTTP servers.

`BackgroundServer` runs a threaded HTTP/1.1 server on a loopback port in a daemon thread and can
drop its live connections on close; `RigHandler` adds body reading and small response helpers.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseHTTPRequestHandler]):
        self.live: set[socket.socket] = set()
        self.live_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a slow reverse lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle holds
        # the body until the client's delayed ACK (40 ms) on every kept-alive request,
        # which a real registry (one write) never costs.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.live_lock:
            self.live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self.live_lock:
            self.live.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        # A client under test may hang up mid-response (e.g. refusing an oversized body);
        # that is the behaviour being tested, not a server error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def drop_live_connections(self) -> None:
        with self.live_lock:
            sockets = list(self.live)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BackgroundServer:
    """A ThreadingHTTPServer on `host`:<free port>, served from a daemon thread."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler], host: str = "127.0.0.1"):
        self._httpd = _Server((host, 0), handler)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.drop_live_connections()
        self._thread.join(timeout=5)


class RigHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler base: quiet logging, body reading, one-call responses."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def read_body(self) -> bytes:
        """Read the request body, Content-Length or chunked (de-chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Send a complete response with Content-Length (no body written for HEAD)."""
        self.send_response_only(status)
        for name, value in headers or []:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
