"""Tests of the integration rig itself (registries, token server, images, fault proxy).

They prove the rig behaves as documented, so manifestor's integration tests can trust it.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rig.faultproxy import redirect, reset, status, truncate
from rig.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    IN_TOTO,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedIndex,
    RigClient,
    make_image,
    push_image,
)
from rig.tokenserver import parse_scope

pytestmark = pytest.mark.integration


def _session(**settings) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    for name, value in settings.items():
        setattr(session, name, value)
    return session


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- registries --


def test_plain_registries_answer(registry_plain, second_registry_plain):
    assert registry_plain.port != second_registry_plain.port
    for registry in (registry_plain, second_registry_plain):
        response = _session().get(f"{registry.url}/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_tls_registry_verifies_with_the_rig_ca(registry_tls):
    assert registry_tls.url.startswith("https://127.0.0.1:")
    assert registry_tls.ca_pem and registry_tls.ca_cert_path.read_bytes() == registry_tls.ca_pem
    with _session(verify=str(registry_tls.ca_cert_path)) as session:
        assert session.get(f"{registry_tls.url}/v2/").status_code == 200
        localhost_url = registry_tls.url.replace("127.0.0.1", "localhost")
        assert session.get(f"{localhost_url}/v2/").status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        _session().get(f"{registry_tls.url}/v2/")


def test_basic_registry_needs_credentials(registry_basic):
    with _session() as session:
        anonymous = session.get(f"{registry_basic.url}/v2/")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
        assert session.get(f"{registry_basic.url}/v2/", auth=("alice", "alice-pw")).ok
        assert session.get(f"{registry_basic.url}/v2/", auth=("alice", "wrong")).status_code == 401


def test_token_registry_challenges_and_accepts_tokens(registry_token, token_server):
    with _session() as session:
        challenge = session.get(f"{registry_token.url}/v2/")
        assert challenge.status_code == 401
        assert challenge.headers["WWW-Authenticate"] == (
            f'Bearer realm="{token_server.realm}",service="{token_server.service}"'
        )
        token = session.get(
            token_server.realm,
            params={"service": token_server.service, "scope": "repository:lab/none:pull"},
            auth=("reader", "reader-pw"),
        ).json()["token"]
        tags = session.get(
            f"{registry_token.url}/v2/lab/none/tags/list",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert tags.status_code == 404  # authorized; the repository just does not exist
        assert tags.json()["errors"][0]["code"] == "NAME_UNKNOWN"


# -- images --


def test_make_image_is_deterministic():
    first = make_image("linux", "arm64", variant="v8")
    assert first == make_image("linux", "arm64", variant="v8")
    other = make_image("linux", "arm64", variant="v8", layer_text="something else")
    assert other.layer.digest != first.layer.digest and other.digest != first.digest
    config = json.loads(first.config.data)
    assert (config["architecture"], config["os"], config["variant"]) == ("arm64", "linux", "v8")
    assert config["rootfs"]["diff_ids"] == [first.diff_id]
    windows = make_image("windows", "amd64", os_version="10.0.1", os_features=["win32k"])
    assert windows.platform == {
        "architecture": "amd64", "os": "windows", "os.version": "10.0.1", "os.features": ["win32k"]
    }  # fmt: skip
    oci = json.loads(make_image("linux", "amd64", media="oci").manifest.data)
    assert oci["mediaType"] == OCI_MANIFEST
    assert oci["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.mark.parametrize("kind", ["plain", "tls", "basic", "token"])
@pytest.mark.parametrize("media", ["docker", "oci"])
def test_push_and_read_back_by_digest(request, rig_client, kind, media):
    registry = request.getfixturevalue(f"registry_{kind}")
    image = make_image("linux", "amd64", media=media, layer_text=f"round trip {kind} {media}")
    pushed = push_image(registry, "lab/roundtrip", f"{kind}-{media}", image)
    client = rig_client(registry)
    response = client.get_manifest("lab/roundtrip", pushed.digest)
    assert response.status_code == 200
    assert response.content == image.manifest.data
    assert response.headers["Docker-Content-Digest"] == pushed.digest
    assert response.headers["Content-Type"] == (
        DOCKER_MANIFEST if media == "docker" else OCI_MANIFEST
    )
    assert client.blob_exists("lab/roundtrip", image.layer.digest)
    assert f"{kind}-{media}" in client.list_tags("lab/roundtrip")


def test_tiny_images_are_in_lab_app(registry_plain, tiny_images, rig_client):
    assert set(tiny_images) == {"amd64", "arm64", "armv7", "ppc64le", "windows"}
    assert tiny_images["windows"].platform["os.version"] == "10.0.17763.1234"
    assert tiny_images["armv7"].platform == {"architecture": "arm", "os": "linux", "variant": "v7"}
    assert tiny_images["ppc64le"].media_type == OCI_MANIFEST
    client = rig_client(registry_plain)
    assert client.list_tags("lab/app") == sorted(f"1.0-{name}" for name in tiny_images)


@pytest.fixture(scope="module")
def rig_index(registry_plain, tiny_images) -> PushedIndex:
    """An attested OCI index of copies of the tiny images, in rig/index (lab/app stays as is)."""
    with RigClient(registry_plain) as client:
        children = [
            client.push_image("rig/index", f"child-{name}", pushed.image)
            for name, pushed in tiny_images.items()
        ]
        return client.push_index("rig/index", "multi", children)


def test_index_with_attestations(registry_plain, rig_index, tiny_images, rig_client):
    client = rig_client(registry_plain)
    body = client.get_manifest("rig/index", "multi")
    assert body.content == rig_index.manifest_bytes
    assert body.headers["Content-Type"] == OCI_INDEX
    entries = rig_index.manifest["manifests"]
    assert len(entries) == 10 and len(rig_index.attestation_digests) == 5
    attestation = entries[5]
    assert attestation["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert attestation["annotations"]["vnd.docker.reference.digest"] == tiny_images["amd64"].digest
    layer = json.loads(client.get_manifest("rig/index", attestation["digest"]).content)["layers"][0]
    assert layer["mediaType"] == IN_TOTO
    assert "annotations" in rig_index.manifest


def test_docker_list_push_and_delete(registry_plain, tiny_images, rig_client):
    client = rig_client(registry_plain)
    children = [
        client.push_image("rig/list", name, tiny_images[name].image) for name in ("amd64", "arm64")
    ]
    listed = client.push_index("rig/list", "list", children, media="docker", attestation=False)
    assert client.get_manifest("rig/list", "list").headers["Content-Type"] == DOCKER_LIST
    assert listed.attestation_digests == []
    assert client.delete_manifest("rig/list", listed.digest).status_code == 202
    assert client.get_manifest("rig/list", listed.digest).status_code == 404


# -- token server --


def test_parse_scope_splits_at_first_and_last_colon():
    assert parse_scope("repository:localhost:5000/foo:pull,push") == (
        "repository", "localhost:5000/foo", ["pull", "push"]
    )  # fmt: skip


def test_token_server_intersects_actions(token_server):
    def access(auth, scope):
        response = _session().get(
            token_server.realm,
            params={"service": token_server.service, "scope": scope},
            auth=auth,
        )
        assert response.status_code == 200, response.text
        return _claims(response.json()["token"])["access"][0]["actions"]

    assert access(("alice", "alice-pw"), "repository:lab/app:pull,push,delete") == ["pull", "push"]
    assert access(("reader", "reader-pw"), "repository:lab/app:pull,push") == ["pull"]
    assert access(None, "repository:public/x:pull,push") == ["pull"]
    assert access(None, "repository:lab/app:pull") == []
    denied = _session().get(
        token_server.realm,
        params={"service": token_server.service, "scope": "repository:lab/app:pull"},
        auth=("alice", "nope"),
    )
    assert denied.status_code == 401
    assert denied.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert [(r.method, r.user, r.status) for r in token_server.requests] == [
        ("GET", "alice", 200), ("GET", "reader", 200), ("GET", None, 200), ("GET", None, 200),
        ("GET", "alice", 401),
    ]  # fmt: skip


def test_token_server_offline_and_oauth_post(token_server):
    session = _session()
    base = {"service": token_server.service, "client_id": "rig-test"}
    offline = session.get(
        token_server.realm,
        params={**base, "scope": "repository:lab/app:pull", "offline_token": "true"},
        auth=("alice", "alice-pw"),
    ).json()
    refresh_token = offline["refresh_token"]
    refreshed = session.post(
        token_server.realm,
        data={**base, "grant_type": "refresh_token", "refresh_token": refresh_token,
              "scope": "repository:lab/app:pull,push repository:lab/other:pull"},
    )  # fmt: skip
    assert refreshed.status_code == 200
    assert refreshed.json()["scope"] == "repository:lab/app:pull,push repository:lab/other:pull"
    assert _claims(refreshed.json()["access_token"])["sub"] == "alice"
    password = session.post(
        token_server.realm,
        data={**base, "grant_type": "password", "username": "reader", "password": "reader-pw",
              "access_type": "offline", "scope": "repository:lab/app:pull"},
    )  # fmt: skip
    assert password.status_code == 200 and password.json()["refresh_token"]
    unknown = session.post(
        token_server.realm, data={**base, "grant_type": "refresh_token", "refresh_token": "x"}
    )
    assert unknown.status_code == 401
    token_server.post_enabled = False
    assert session.post(token_server.realm, data=base).status_code == 404
    assert [(r.method, r.grant_type, r.user, r.client_id) for r in token_server.requests] == [
        ("GET", None, "alice", "rig-test"),
        ("POST", "refresh_token", "alice", "rig-test"),
        ("POST", "password", "reader", "rig-test"),
        ("POST", "refresh_token", None, "rig-test"),
    ]


# -- fault proxy --


def test_proxy_keeps_repeated_accept_headers(registry_plain, rig_index, fault_proxy):
    proxy = fault_proxy(registry_plain)
    connection = http.client.HTTPConnection(proxy.host)
    connection.putrequest("GET", "/v2/rig/index/manifests/multi")
    for media_type in MANIFEST_TYPES:
        connection.putheader("Accept", media_type)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == OCI_INDEX
    assert response.read() == rig_index.manifest_bytes
    connection.close()
    assert proxy.requests[0].header_values("Accept") == list(MANIFEST_TYPES)


def test_proxy_status_fault_applies_once(registry_plain, fault_proxy):
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", r"^/v2/$"), status(429, {"Retry-After": "1"}, b"slow down"))
    assert proxy.faults_left() == 1
    with _session() as session:
        first = session.get(f"{proxy.url}/v2/")
        assert (first.status_code, first.headers["Retry-After"], first.content) == (
            429, "1", b"slow down"
        )  # fmt: skip
        assert session.get(f"{proxy.url}/v2/").status_code == 200
    assert proxy.faults_left() == 0
    assert [(r.status, r.fault) for r in proxy.requests] == [(429, "status"), (200, None)]
    assert proxy.connections == 1  # keep-alive across the fault


def test_proxy_reset_truncate_and_connection_count(registry_plain, tiny_images, fault_proxy):
    proxy = fault_proxy(registry_plain)
    layer = tiny_images["amd64"].image.layer
    blob_path = f"/v2/lab/app/blobs/{layer.digest}"
    proxy.add_fault(lambda method, path: path == "/v2/", reset())
    proxy.add_fault(("GET", "/blobs/"), truncate())
    with pytest.raises(requests.exceptions.ConnectionError):
        _session().get(f"{proxy.url}/v2/")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _session().get(f"{proxy.url}{blob_path}")
    assert proxy.faults_left() == 0
    with _session() as session:
        for _ in range(3):
            assert session.get(f"{proxy.url}{blob_path}").content == layer.data
    assert proxy.connections == 3
    assert [r.status for r in proxy.requests] == [None, 200, 200, 200, 200]


def test_proxy_counts_the_most_requests_in_flight(registry_plain, fault_proxy):
    proxy = fault_proxy(registry_plain, latency=0.3)  # each request is held at least 0.3 s
    barrier = threading.Barrier(3)

    def get() -> int:
        with _session() as session:
            barrier.wait()
            return session.get(f"{proxy.url}/v2/").status_code

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(lambda _: get(), range(3))) == [200, 200, 200]
    assert (proxy.peak_in_flight, proxy.in_flight) == (3, 0)
    proxy.reset()
    with _session() as session:
        for _ in range(3):  # one after another: a reply ends its request before the next
            assert session.get(f"{proxy.url}/v2/").status_code == 200
    assert (proxy.peak_in_flight, proxy.in_flight, proxy.connections) == (1, 0, 1)


def test_proxy_rewrites_upload_location(registry_plain, fault_proxy):
    proxy = fault_proxy(registry_plain)
    started = _session().post(f"{proxy.url}/v2/lab/proxied/blobs/uploads/")
    assert started.status_code == 202
    assert started.headers["Location"].startswith(f"{proxy.url}/v2/lab/proxied/blobs/uploads/")


def test_proxy_answers_tls_hello_with_http_400(registry_plain, fault_proxy):
    proxy = fault_proxy(registry_plain)
    with socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1]))) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")
        assert sock.recv(100).startswith(b"HTTP/1.0 400 Bad Request")


def test_redirect_to_blob_mirror_drops_authorization(
    registry_basic, fault_proxy, blob_mirror, rig_client
):
    image = make_image("linux", "amd64", layer_text="mirrored")
    rig_client(registry_basic).push_image("lab/mirrored", "v1", image)
    proxy = fault_proxy(registry_basic)
    mirror = blob_mirror(registry_basic)
    assert not mirror.url.startswith("http://127.0.0.1:")
    proxy.add_fault(("GET", "/blobs/"), redirect(mirror.url))
    response = _session(auth=("alice", "alice-pw")).get(
        f"{proxy.url}/v2/lab/mirrored/blobs/{image.layer.digest}"
    )
    assert response.status_code == 200 and response.content == image.layer.data
    assert [r.status for r in proxy.requests] == [307]
    assert proxy.requests[0].header_values("Authorization")
    assert [r.status for r in mirror.requests] == [200]
    assert mirror.requests[0].header_values("Authorization") == []


def test_docker_config_fixture(docker_config):
    assert os.environ["DOCKER_CONFIG"] == str(docker_config.path)
    docker_config.add_auth("127.0.0.1:5000", "alice", "alice-pw")
    auth = docker_config.read()["auths"]["127.0.0.1:5000"]["auth"]
    assert base64.b64decode(auth) == b"alice:alice-pw"
