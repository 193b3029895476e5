"""RegistryClient on the wire, against real registries and a fault proxy: scheme and TLS
choice (certs.d), retries, digest and size checks, redirects, and the Accept header."""

from __future__ import annotations

import logging
import re
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rig.faultproxy import Action, redirect, reset, status, truncate
from rig.images import DOCKER_MANIFEST, MANIFEST_TYPES, make_image, push_image
from rig.pki import make_ca, make_server_cert

from manifestor.errors import (
    DeadlineError,
    DigestMismatchError,
    ManifestTooLargeError,
    NotFoundError,
    RedirectRefusedError,
    RegistryError,
    TLSError,
    TooManyRequestsError,
    TransportError,
)
from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.oci import MAX_MANIFEST_BYTES, Manifest
from manifestor.model.reference import Reference, parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import MAX_REDIRECTS, Transport

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def sleeps() -> list[float]:
    """Waits between retries, recorded instead of slept (shared by a test's clients)."""
    return []


@pytest.fixture
def client_for(tmp_path: Path, sleeps: list[float]) -> Iterator[Callable[..., RegistryClient]]:
    """Factory: client_for(keychain=None, insecure=False, certs_dir=None) -> RegistryClient.

    Anonymous by default, an empty certs.d unless `certs_dir` is given, fast retries."""
    clients: list[RegistryClient] = []

    def make(
        keychain: Keychain | None = None, *, insecure: bool = False, certs_dir: Path | None = None
    ) -> RegistryClient:
        transport = Transport(
            insecure=insecure,
            certs_dir=certs_dir or tmp_path / "empty-certs.d",
            retry=FAST_RETRY,
            sleep=sleeps.append,
        )
        chain = keychain or Keychain(tmp_path / "no-docker-config", environ={})
        clients.append(RegistryClient(keychain=chain, transport=transport))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def _ref(host: str, name: str) -> Reference:
    return parse_reference(f"{host}/{name}")


def _alice(tmp_path: Path) -> Keychain:
    return Keychain(
        tmp_path / "no-docker-config", username="alice", password="alice-pw", environ={}
    )


def _requests_to(proxy, fragment: str, method: str | None = None) -> list:
    return [
        r for r in proxy.requests if fragment in r.path and (method is None or r.method == method)
    ]


# -- scheme and TLS --


def test_plain_http_loopback_registry_needs_no_insecure(registry_plain, tiny_images, client_for):
    client = client_for()
    pushed = tiny_images["amd64"]
    assert client.get_manifest(_ref(registry_plain.host, "lab/app:1.0-amd64")).raw == (
        pushed.manifest_bytes
    )
    assert client.transport.base_url(registry_plain.host) == f"http://{registry_plain.host}"


def test_loopback_name_localhost_may_use_plain_http(registry_plain, tiny_images, client_for):
    host = f"localhost:{registry_plain.port}"
    client = client_for()
    assert client.head_manifest(_ref(host, "lab/app:1.0-arm64")).digest == (
        tiny_images["arm64"].digest
    )
    assert client.transport.base_url(host) == f"http://{host}"


@pytest.fixture(scope="module")
def tls_image(registry_tls):
    image = make_image("linux", "amd64", layer_text="over TLS")
    return push_image(registry_tls, "tls/app", "v1", image)


def _certs_d_with_ca(tmp_path: Path, host: str, ca_pem: bytes) -> Path:
    certs_dir = tmp_path / "certs.d"
    (certs_dir / host).mkdir(parents=True)
    (certs_dir / host / "ca.crt").write_bytes(ca_pem)
    return certs_dir


def test_tls_registry_is_trusted_through_its_certs_d_ca(
    registry_tls, tls_image, client_for, tmp_path
):
    certs_dir = _certs_d_with_ca(tmp_path, registry_tls.host, registry_tls.ca_pem)
    client = client_for(certs_dir=certs_dir)
    ref = _ref(registry_tls.host, "tls/app:v1")
    assert client.get_manifest(ref).digest == tls_image.digest
    assert client.get_blob(ref, tls_image.config_digest) == tls_image.image.config.data
    assert client.transport.base_url(registry_tls.host) == f"https://{registry_tls.host}"


def test_untrusted_tls_registry_is_a_tls_error_not_a_missing_manifest(
    registry_tls, tls_image, client_for
):
    client = client_for()
    with pytest.raises(TLSError) as caught:
        client.get_manifest(_ref(registry_tls.host, "tls/app:v1"))
    message = str(caught.value)
    assert "\n" not in message
    assert "certificate" in message and "--insecure" in message
    assert f"certs.d/{registry_tls.host}/ca.crt" in message
    assert client.transport.base_url(registry_tls.host) is None  # never downgraded to http


def test_unreadable_certs_d_ca_is_a_tls_error_naming_the_file(
    registry_tls, tls_image, client_for, tmp_path
):
    certs_dir = _certs_d_with_ca(tmp_path, registry_tls.host, b"not a certificate")
    with pytest.raises(TLSError) as caught:
        client_for(certs_dir=certs_dir).get_manifest(_ref(registry_tls.host, "tls/app:v1"))
    assert str(certs_dir / registry_tls.host / "ca.crt") in str(caught.value)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skips_verification_but_keeps_https(registry_tls, tls_image, client_for):
    client = client_for(insecure=True)
    assert client.get_manifest(_ref(registry_tls.host, "tls/app:v1")).digest == tls_image.digest
    assert client.transport.base_url(registry_tls.host) == f"https://{registry_tls.host}"


# -- retries --


RETRIED_FAULTS: dict[str, Action] = {
    "429-retry-after": status(429, {"Retry-After": "1"}),
    "503": status(503),
    "connection-reset": reset(),
    "truncated-body": truncate(),
}


@pytest.mark.parametrize("fault", list(RETRIED_FAULTS))
def test_transient_failure_is_retried_once_then_succeeds(
    registry_plain, tiny_images, fault_proxy, client_for, sleeps, fault
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    ref = _ref(proxy.host, "lab/app:1.0-amd64")
    client.ping(ref.domain)
    proxy.add_fault(("GET", "/manifests/"), RETRIED_FAULTS[fault])
    assert client.get_manifest(ref).raw == tiny_images["amd64"].manifest_bytes
    assert proxy.faults_left() == 0
    seen = _requests_to(proxy, "/manifests/")
    assert [r.fault for r in seen] == [RETRIED_FAULTS[fault].kind, None]
    assert seen[-1].status == 200
    assert len(sleeps) == 1
    if fault == "429-retry-after":
        assert sleeps == [1.0]  # Retry-After honoured, not the tiny backoff


def test_server_error_forever_gives_up_after_the_attempts(
    registry_plain, tiny_images, fault_proxy, client_for, sleeps
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    proxy.add_fault(("GET", "/manifests/"), status(500), times=10)
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(_ref(proxy.host, "lab/app:1.0-amd64"))
    assert caught.value.status == 500
    assert "500" in str(caught.value)
    assert len(_requests_to(proxy, "/manifests/")) == FAST_RETRY.attempts
    assert proxy.faults_left() == 10 - FAST_RETRY.attempts
    assert len(sleeps) == FAST_RETRY.attempts - 1


def test_client_errors_are_not_retried(
    registry_plain, tiny_images, fault_proxy, client_for, sleeps
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    with pytest.raises(NotFoundError):
        client.get_manifest(_ref(proxy.host, "lab/app:no-such-tag"))
    assert not client.blob_exists(_ref(proxy.host, "lab/app"), "sha256:" + "0" * 64)
    assert [(r.method, r.status) for r in proxy.requests if r.path != "/v2/"] == [
        ("GET", 404),
        ("HEAD", 404),
    ]
    assert sleeps == []


def test_rate_limit_asking_for_longer_than_the_budget_fails_at_once_saying_so(
    registry_plain, tiny_images, fault_proxy, client_for, sleeps
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    proxy.add_fault(("GET", "/manifests/"), status(429, {"Retry-After": "3600"}), times=10)
    with pytest.raises(DeadlineError) as caught:
        client.get_manifest(_ref(proxy.host, "lab/app:1.0-amd64"))
    assert "asked to wait 3600 s (Retry-After)" in str(caught.value)
    assert "retry budget" in str(caught.value)
    assert sleeps == []
    assert len([r for r in proxy.requests if "/manifests/" in r.path]) == 1


def test_rate_limit_that_persists_is_reported_with_its_count(
    registry_plain, tiny_images, fault_proxy, client_for, sleeps
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    proxy.add_fault(("GET", "/manifests/"), status(429, {"Retry-After": "1"}), times=10)
    with pytest.raises(TooManyRequestsError) as caught:
        client.get_manifest(_ref(proxy.host, "lab/app:1.0-amd64"))
    assert caught.value.status == 429 and "rate limited" in str(caught.value)
    assert f"429 Too Many Requests {FAST_RETRY.attempts} times over" in str(caught.value)
    assert sleeps == [1.0] * (FAST_RETRY.attempts - 1)


def test_blob_stream_broken_mid_body_is_a_transport_error(
    registry_plain, tiny_images, fault_proxy, client_for
):
    layer = tiny_images["amd64"].image.layer
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", "/blobs/"), truncate())
    stream = client_for().open_blob(_ref(proxy.host, "lab/app"), layer.digest)
    with pytest.raises(TransportError) as caught:
        b"".join(stream)
    assert "broke while reading" in str(caught.value) and "\n" not in str(caught.value)


def test_retry_trace_of_a_lost_upload_hides_its_state(
    registry_plain, fault_proxy, client_for, caplog
):
    caplog.set_level(logging.DEBUG, logger="manifestor.http")
    proxy = fault_proxy(registry_plain)
    image = make_image("linux", "amd64", layer_text="lost upload")

    def layer_after_the_registry_went_away() -> bytes:
        proxy.close()  # between POST and PUT: every PUT attempt is refused
        return image.layer.data

    body = BodySource(layer_after_the_registry_went_away, image.layer.size)
    with pytest.raises(TransportError) as caught:
        client_for().upload_blob(_ref(proxy.host, "lost/upload"), image.layer.digest, body)
    retries = [m for m in caplog.messages if m.startswith("retrying after")]
    # The PUT itself is never repeated; the DELETE cancelling its session is.
    assert any("_state=REDACTED" in m for m in retries)
    assert not re.search(r"_state=(?!REDACTED)", caplog.text + str(caught.value))


# -- digests and sizes --


def test_manifest_answered_with_other_bytes_than_its_digest_is_rejected(
    registry_plain, tiny_images, fault_proxy, client_for
):
    asked, other = tiny_images["amd64"], tiny_images["arm64"]
    proxy = fault_proxy(registry_plain)
    headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": asked.digest}
    proxy.add_fault(("GET", "/manifests/"), status(200, headers, other.manifest_bytes))
    with pytest.raises(DigestMismatchError) as caught:
        client_for().get_manifest(_ref(proxy.host, f"lab/app@{asked.digest}"))
    assert asked.digest in str(caught.value) and other.digest in str(caught.value)


def test_manifest_not_matching_its_announced_digest_is_rejected(
    registry_plain, tiny_images, fault_proxy, client_for
):
    announced, sent = tiny_images["amd64"], tiny_images["arm64"]
    proxy = fault_proxy(registry_plain)
    headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": announced.digest}
    proxy.add_fault(("GET", "/manifests/"), status(200, headers, sent.manifest_bytes))
    with pytest.raises(DigestMismatchError, match="Docker-Content-Digest"):
        client_for().get_manifest(_ref(proxy.host, "lab/app:1.0-amd64"))


def test_head_announcing_another_digest_than_asked_is_rejected(
    registry_plain, tiny_images, fault_proxy, client_for
):
    asked, other = tiny_images["amd64"], tiny_images["arm64"]
    proxy = fault_proxy(registry_plain)
    headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": other.digest}
    proxy.add_fault(("HEAD", "/manifests/"), status(200, headers))
    with pytest.raises(DigestMismatchError):
        client_for().head_manifest(_ref(proxy.host, f"lab/app@{asked.digest}"))


def test_manifest_over_4_mib_is_refused_before_any_request(registry_plain, fault_proxy, client_for):
    proxy = fault_proxy(registry_plain)
    raw = b'{"schemaVersion": 2, "padding": "' + b"x" * MAX_MANIFEST_BYTES + b'"}'
    huge = Manifest(raw=raw, media_type=DOCKER_MANIFEST, body={})
    with pytest.raises(ManifestTooLargeError):
        client_for().put_manifest(_ref(proxy.host, "lab/huge:v1"), huge)
    assert proxy.requests == []


def test_manifest_response_over_4_mib_is_refused(registry_plain, fault_proxy, client_for):
    proxy = fault_proxy(registry_plain)
    body = b'{"schemaVersion": 2, "padding": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    proxy.add_fault(("GET", "/manifests/"), status(200, {"Content-Type": DOCKER_MANIFEST}, body))
    with pytest.raises(ManifestTooLargeError):
        client_for().get_manifest(_ref(proxy.host, "lab/huge:v1"))
    assert len(_requests_to(proxy, "/manifests/")) == 1


# -- redirects --


@pytest.mark.parametrize("read", ["get_blob", "open_blob"])
def test_blob_redirect_to_another_host_drops_authorization(
    registry_basic, fault_proxy, blob_mirror, client_for, tmp_path, read
):
    image = make_image("linux", "amd64", layer_text="redirected blob")
    push_image(registry_basic, "redirect/app", "v1", image)
    proxy = fault_proxy(registry_basic)
    mirror = blob_mirror(registry_basic)
    proxy.add_fault(("GET", "/blobs/"), redirect(mirror.url))
    client = client_for(_alice(tmp_path))
    ref = _ref(proxy.host, "redirect/app")
    if read == "get_blob":
        data = client.get_blob(ref, image.layer.digest)
    else:
        data = b"".join(client.open_blob(ref, image.layer.digest))
    assert data == image.layer.data
    [hop] = _requests_to(proxy, "/blobs/")
    assert hop.status == 307
    assert hop.header_values("Authorization")
    [landed] = mirror.requests
    assert landed.status == 200
    assert landed.header_values("Authorization") == []


def test_redirect_within_the_same_host_keeps_authorization(
    registry_basic, fault_proxy, client_for, tmp_path
):
    image = make_image("linux", "amd64", layer_text="redirected to itself")
    push_image(registry_basic, "redirect/same-host", "v1", image)
    proxy = fault_proxy(registry_basic)
    proxy.add_fault(("GET", "/blobs/"), redirect(proxy.url))
    client = client_for(_alice(tmp_path))
    assert client.get_blob(_ref(proxy.host, "redirect/same-host"), image.config.digest) == (
        image.config.data
    )
    hops = _requests_to(proxy, "/blobs/")
    assert [r.status for r in hops] == [307, 200]
    assert all(r.header_values("Authorization") for r in hops)


def test_redirect_loop_is_cut_short(registry_plain, tiny_images, fault_proxy, client_for):
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", "/blobs/"), redirect(proxy.url), times=20)
    with pytest.raises(RedirectRefusedError, match="too many redirects"):
        client_for().get_blob(_ref(proxy.host, "lab/app"), tiny_images["amd64"].config_digest)
    assert len(_requests_to(proxy, "/blobs/")) == MAX_REDIRECTS + 1  # and not retried


class _TLSRedirector:
    """An HTTPS stand-in for a registry that redirects every blob request to `target`.

    Certificate from a fresh CA (`ca_pem`); like Go's server it answers plain HTTP with
    a 400, so the client's scheme probe settles on https as with a real registry."""

    def __init__(self, target: str) -> None:
        ca = make_ca()
        server_cert = make_server_cert(ca, ("127.0.0.1",))
        self.ca_pem = ca.cert_pem
        self.paths: list[str] = []
        self._context = _server_context(server_cert.cert_pem, server_cert.key_pem)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                self.tls = self.request.recv(1, socket.MSG_PEEK) == b"\x16"
                if self.tls:
                    self.request = owner._context.wrap_socket(self.request, server_side=True)
                super().setup()

            def do_GET(self) -> None:
                owner.paths.append(self.path)
                if not self.tls:
                    self._answer(400, b"Client sent an HTTP request to an HTTPS server.\n")
                elif "/blobs/" in self.path:
                    self._answer(307, location=target + self.path)
                else:
                    self._answer(200, b"{}")

            def _answer(self, code: int, body: bytes = b"", location: str | None = None) -> None:
                self.send_response(code)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> _TLSRedirector:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    return context


def test_redirect_from_https_to_http_is_refused(
    registry_plain, tiny_images, fault_proxy, client_for, tmp_path
):
    plain = fault_proxy(registry_plain)
    digest = tiny_images["amd64"].config_digest
    with _TLSRedirector(plain.url) as redirector:
        certs_dir = _certs_d_with_ca(tmp_path, redirector.host, redirector.ca_pem)
        client = client_for(certs_dir=certs_dir)
        with pytest.raises(RedirectRefusedError) as caught:
            client.get_blob(_ref(redirector.host, "lab/app"), digest)
    assert client.transport.base_url(redirector.host) == f"https://{redirector.host}"
    assert "insecure" in str(caught.value)
    assert f"/v2/lab/app/blobs/{digest}" in redirector.paths
    assert plain.requests == []  # the http target was never contacted


# -- the Accept header --


def test_manifest_requests_send_one_accept_header_with_the_four_types(
    registry_plain, tiny_images, fault_proxy, client_for
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    ref = _ref(proxy.host, "lab/app:1.0-ppc64le")
    assert client.head_manifest(ref).digest == tiny_images["ppc64le"].digest
    assert client.get_manifest(ref).digest == tiny_images["ppc64le"].digest
    seen = _requests_to(proxy, "/manifests/")
    assert [r.method for r in seen] == ["HEAD", "GET"]
    for request in seen:
        [accept] = request.header_values("Accept")
        assert sorted(t.strip() for t in accept.split(",")) == sorted(MANIFEST_TYPES)


def test_blob_requests_carry_no_manifest_accept(
    registry_plain, tiny_images, fault_proxy, client_for
):
    proxy = fault_proxy(registry_plain)
    client = client_for()
    ref = _ref(proxy.host, "lab/app")
    image = tiny_images["amd64"].image
    assert client.blob_exists(ref, image.layer.digest)
    assert client.get_blob(ref, image.config.digest) == image.config.data
    assert b"".join(client.open_blob(ref, image.layer.digest)) == image.layer.data
    seen = _requests_to(proxy, "/blobs/")
    assert [r.method for r in seen] == ["HEAD", "GET", "GET"]
    for request in seen:
        assert not any("manifest" in value for value in request.header_values("Accept"))
