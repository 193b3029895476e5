"""Proxies from the environment (HTTP_PROXY, NO_PROXY, ...) are honoured as requests would
honour them, though the transport reads them once per host instead of on every request
(remote/session.py). A scripted local server plays the proxy: it answers every request
itself and records the request line, so nothing leaves this machine."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from manifestor.remote.transport import Transport


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.lines: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Recorder

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.lines.append(self.requestline)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serving() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy() -> Iterator[_Recorder]:
    yield from _serving()


@pytest.fixture
def registry() -> Iterator[_Recorder]:
    yield from _serving()


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_http_proxy_from_the_environment_carries_every_request(monkeypatch, proxy, registry):
    monkeypatch.setenv("http_proxy", proxy.url)
    transport = Transport()
    for _ in range(3):
        assert transport.request("GET", f"{registry.url}/v2/").status == 200
    target = f"{registry.url}/v2/"
    # A proxy gets the absolute URL in the request line; the registry itself gets nothing.
    assert proxy.lines == [f"GET {target} HTTP/1.1"] * 3
    assert registry.lines == []


def test_no_proxy_sends_that_host_directly(monkeypatch, proxy, registry):
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    transport = Transport()
    assert transport.request("GET", f"{registry.url}/v2/").status == 200
    assert proxy.lines == []
    assert registry.lines == ["GET /v2/ HTTP/1.1"]


def test_without_proxy_variables_requests_go_straight(proxy, registry):
    transport = Transport()
    assert transport.request("GET", f"{registry.url}/v2/").status == 200
    assert proxy.lines == []
    assert registry.lines == ["GET /v2/ HTTP/1.1"]
