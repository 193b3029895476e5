"""The first connection to a registry opened while the command is still starting
(remote/early.py), and taken by the transport's first connection to that host and port."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from manifestor.remote import early
from manifestor.remote.transport import Transport


class _Counting(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.connections = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Counting]:
    served = _Counting()
    threading.Thread(target=served.serve_forever, daemon=True).start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_the_transport_takes_the_connection_opened_early(server):
    host, port = server.host.split(":")
    early.connect_early([server.host])
    transport = Transport()
    for _ in range(3):
        assert transport.request("GET", f"http://{server.host}/v2/").status == 200
    # One connection in all: the early one, kept alive for the three requests.
    assert server.connections == 1
    assert early.take(host, int(port)) is None  # taken once


def test_one_socket_per_naming_up_to_the_per_host_limit_each_taken_once(server):
    host, port = server.host.split(":")
    early.connect_early([server.host] * 6)  # named six times: four at most at once
    taken = [early.take(host, int(port)) for _ in range(5)]
    assert all(isinstance(sock, socket.socket) for sock in taken[:4]) and taken[4] is None
    assert {sock.getpeername() for sock in taken[:4]} == {(host, int(port))}
    for sock in taken[:4]:
        sock.close()


def test_a_refused_connect_is_forgotten():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens once closed
    early.connect_early([f"127.0.0.1:{port}"])
    assert early.take("127.0.0.1", port) is None


def test_nothing_is_opened_when_a_proxy_is_set(monkeypatch, server):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    host, port = server.host.split(":")
    early.connect_early([server.host])
    assert early.take(host, int(port)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("registry.example", ("registry.example", 443)),
        ("Registry.Example:5000", ("registry.example", 5000)),
        ("localhost", ("localhost", 80)),
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("[::1]:5000", ("::1", 5000)),
        ("[::1]", ("::1", 80)),
        ("host:port", None),
        ("a:b:c", None),
        ("[::1", None),
    ],
)
def test_addresses(host, address):
    assert early._address(host) == address
