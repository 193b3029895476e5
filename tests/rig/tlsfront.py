"""A TLS front on https://127.0.0.1:<port> for a plain-HTTP registry, answering plain HTTP
sent to its port the way nginx does (400 with nginx's HTML), not the way Go does.

Requests that arrive over TLS are forwarded to the registry (repeated headers kept) and
counted; so are the plain-HTTP requests it turned away."""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .pki import make_ca, make_server_cert
from .serving import BackgroundServer, RigHandler

NGINX_400_BODY = (
    b"<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
    b"<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
    b"<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class NginxStyleTLSFront:
    """See the module docstring. `ca_pem` is the CA that signed its certificate."""

    def __init__(self, upstream_url: str, workdir: Path) -> None:
        self.upstream = urlsplit(upstream_url).netloc
        ca = make_ca("nginx-style front CA")
        server = make_server_cert(ca)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "front.crt").write_bytes(server.cert_pem + ca.cert_pem)
        (workdir / "front.key").write_bytes(server.key_pem)
        self.ca_pem = ca.cert_pem
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(workdir / "front.crt", workdir / "front.key")
        self.tls_requests: list[tuple[str, str]] = []
        self.plain_requests = 0
        self._lock = threading.Lock()
        self._server = BackgroundServer(functools.partial(_FrontHandler, front=self))
        self.host = f"127.0.0.1:{self._server.port}"

    def close(self) -> None:
        self._server.close()


class _FrontHandler(RigHandler):
    def __init__(self, *args: Any, front: NginxStyleTLSFront, **kwargs: Any) -> None:
        self.front = front
        self.tls = False
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        try:
            first = self.request.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        self.tls = first == b"\x16"
        if self.tls:
            self.request = self.front.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self) -> None:
        if self.tls:
            super().handle()
            return
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # the request line and headers, as nginx reads them before answering
        with self.front._lock:
            self.front.plain_requests += 1
        self.wfile.write(
            b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
            + f"Content-Length: {len(NGINX_400_BODY)}\r\nConnection: close\r\n\r\n".encode()
            + NGINX_400_BODY
        )
        self.close_connection = True

    def _forward(self) -> None:
        body = self.read_body()
        with self.front._lock:
            self.front.tls_requests.append((self.command, self.path))
        upstream = http.client.HTTPConnection(self.front.upstream, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in ("host", "content-length", "connection"):
                    upstream.putheader(name, value)
            upstream.putheader("Host", self.front.upstream)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            reply = upstream.getresponse()
            data = reply.read()
            dropped = ("connection", "transfer-encoding")
            if self.command != "HEAD":  # a HEAD keeps the length of the body it does not send
                dropped += ("content-length",)
            headers = [(k, v) for k, v in reply.getheaders() if k.lower() not in dropped]
            if self.command == "HEAD":
                self.send_response_only(reply.status)
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
            else:
                self.send_bytes(reply.status, data, headers)
        finally:
            upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815
