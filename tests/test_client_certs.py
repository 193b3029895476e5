"""Client certificates from certs.d, against a real registry that requires them."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifestor.errors import TLSError
from manifestor.local.keychain import Keychain
from manifestor.model.reference import parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy

pytestmark = pytest.mark.integration


def _certs_d(tmp_path: Path, registry, *, client: bool) -> Path:
    host_dir = tmp_path / "certs.d" / registry.host
    host_dir.mkdir(parents=True)
    (host_dir / "ca.crt").write_bytes(registry.ca_pem)
    if client:
        (host_dir / "client.cert").write_bytes(registry.client_cert_pem)
        (host_dir / "client.key").write_bytes(registry.client_key_pem)
    return host_dir.parent


def _client(certs_dir: Path) -> RegistryClient:
    # An empty Docker config of its own: the machine's credentials play no part.
    keychain = Keychain(certs_dir.parent / "docker-config")
    return RegistryClient(keychain=keychain, certs_dir=certs_dir, retry=RetryPolicy(attempts=1))


def test_client_certificate_from_certs_d_is_presented(registry_mtls, tmp_path):
    with _client(_certs_d(tmp_path, registry_mtls, client=True)) as client:
        ref = parse_reference(f"{registry_mtls.host}/lab/none:v1")
        assert client.head_manifest(ref) is None  # reached the registry: TLS accepted us


def test_without_the_client_certificate_the_handshake_fails_as_a_tls_error(registry_mtls, tmp_path):
    with _client(_certs_d(tmp_path, registry_mtls, client=False)) as client:
        with pytest.raises(TLSError) as caught:
            client.ping(registry_mtls.host)
    message = str(caught.value)
    assert "\n" not in message
    assert "wants a client certificate" in message
    assert f"{registry_mtls.host}/client.cert" in message


def test_a_client_certificate_without_its_key_is_a_clear_error(registry_mtls, tmp_path):
    certs_dir = _certs_d(tmp_path, registry_mtls, client=True)
    (certs_dir / registry_mtls.host / "client.key").unlink()
    with _client(certs_dir) as client:
        with pytest.raises(TLSError, match="client.cert has no matching key client.key"):
            client.ping(registry_mtls.host)
