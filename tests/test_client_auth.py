"""RegistryClient authentication against real registries: anonymous, Basic and token auth,
credentials from config.json and helpers, the token cache, OAuth2 POST, and a debug trace
that never shows a secret."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from rig.faultproxy import status
from rig.images import Image, make_image, push_image

from manifestor.errors import AuthError, DeniedError, UnauthorizedError
from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.oci import parse_manifest
from manifestor.model.reference import Reference, parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
JWT_PREFIX = "eyJ"  # base64url of '{"': every token the rig's token server issues


@pytest.fixture(autouse=True)
def no_auth_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_AUTH_CONFIG", raising=False)


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Callable[..., RegistryClient]]:
    """Factory: client_for(keychain=None) -> RegistryClient, anonymous by default."""
    clients: list[RegistryClient] = []

    def make(keychain: Keychain | None = None) -> RegistryClient:
        chain = keychain or Keychain(tmp_path / "no-docker-config", environ={})
        clients.append(RegistryClient(keychain=chain, retry=FAST_RETRY))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def _user(tmp_path: Path, username: str, password: str) -> Keychain:
    return Keychain(tmp_path / "no-docker-config", username=username, password=password, environ={})


def _ref(host: str, name: str) -> Reference:
    return parse_reference(f"{host}/{name}")


def _push(client: RegistryClient, ref: Reference, image: Image) -> str:
    for blob in (image.config, image.layer):
        client.upload_blob(ref, blob.digest, BodySource.of_bytes(blob.data))
    return client.put_manifest(ref, parse_manifest(image.manifest.data, image.media_type)).digest


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _refresh_token(token_server, username: str, password: str) -> str:
    """A real refresh token, obtained the way `docker login` does (offline_token=true)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(
            token_server.realm,
            params={
                "service": token_server.service,
                "scope": "repository:lab/login:pull",
                "offline_token": "true",
                "client_id": "manifestor-test",
            },
            auth=(username, password),
            timeout=10,
        )
    answer.raise_for_status()
    token_server.reset()
    return answer.json()["refresh_token"]


# -- anonymous, Basic, token --


def test_anonymous_client_pushes_to_an_open_registry(registry_plain, client_for):
    client = client_for()
    image = make_image("linux", "amd64", layer_text="anonymous push")
    ref = _ref(registry_plain.host, "auth/anonymous:v1")
    assert _push(client, ref, image) == image.digest
    assert client.get_manifest(ref).raw == image.manifest.data


def test_basic_user_pushes_and_reads_back(registry_basic, client_for, tmp_path):
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    image = make_image("linux", "amd64", layer_text="basic push")
    ref = _ref(registry_basic.host, "auth/basic:v1")
    assert _push(client, ref, image) == image.digest
    assert client.head_manifest(ref).digest == image.digest


def test_basic_wrong_password_is_a_one_line_unauthorized_error(
    registry_basic, client_for, tmp_path
):
    client = client_for(_user(tmp_path, "alice", "not-her-password"))
    with pytest.raises(UnauthorizedError) as caught:
        client.get_manifest(_ref(registry_basic.host, "auth/basic:v1"))
    message = str(caught.value)
    assert caught.value.status == 401
    assert "\n" not in message
    assert "check the username and password" in message
    assert "not-her-password" not in message


def test_basic_registry_without_credentials_asks_to_log_in(registry_basic, client_for):
    with pytest.raises(UnauthorizedError, match="log in") as caught:
        client_for().get_manifest(_ref(registry_basic.host, "auth/basic:v1"))
    assert "\n" not in str(caught.value)


def test_token_user_pushes_with_a_token_for_push(
    registry_token, token_server, client_for, tmp_path
):
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    image = make_image("linux", "amd64", layer_text="token push")
    ref = _ref(registry_token.host, "auth/token:v1")
    assert _push(client, ref, image) == image.digest
    assert client.get_manifest(ref).digest == image.digest
    assert [(r.method, r.user, r.scopes, r.status) for r in token_server.requests] == [
        ("GET", "alice", ["repository:auth/token:pull,push"], 200)
    ]


def test_read_only_user_is_denied_push(registry_token, token_server, client_for, tmp_path):
    client = client_for(_user(tmp_path, "reader", "reader-pw"))
    image = make_image("linux", "amd64", layer_text="reader may not push")
    with pytest.raises(DeniedError) as caught:
        _push(client, _ref(registry_token.host, "auth/readonly:v1"), image)
    message = str(caught.value)
    assert "\n" not in message
    assert "denied" in message and "reader" in message
    # The insufficient_scope answer earned exactly one fresh token, then the client gave up.
    assert [(r.user, r.status) for r in token_server.requests] == [
        ("reader", 200),
        ("reader", 200),
    ]


def test_wrong_password_on_token_registry_is_a_one_line_auth_error(
    registry_token, token_server, client_for, tmp_path
):
    client = client_for(_user(tmp_path, "alice", "not-her-password"))
    with pytest.raises(AuthError) as caught:
        client.get_manifest(_ref(registry_token.host, "auth/token:v1"))
    message = str(caught.value)
    assert "\n" not in message
    assert "rejected the credentials" in message and "username and password" in message
    assert "not-her-password" not in message
    # A pull tries an anonymous token once (stale credentials must not break a public read).
    assert [(r.user, r.status) for r in token_server.requests] == [("alice", 401), (None, 200)]


def test_anonymous_token_pulls_a_public_repository(registry_token, token_server, client_for):
    image = make_image("linux", "amd64", layer_text="public image")
    push_image(registry_token, "public/hello", "v1", image)
    token_server.reset()
    client = client_for()
    ref = _ref(registry_token.host, "public/hello:v1")
    assert client.get_manifest(ref).digest == image.digest
    assert [(r.user, r.scopes) for r in token_server.requests] == [
        (None, ["repository:public/hello:pull"])
    ]


def test_credentials_are_used_when_only_the_repository_asks_for_them(
    registry_token, token_server, token_repo, fault_proxy, client_for, tmp_path
):
    # Some registries answer GET /v2/ anonymously and challenge only on a repository.
    repo, image = token_repo
    proxy = fault_proxy(registry_token)
    proxy.add_fault(("GET", r"^/v2/$"), status(200, {"Content-Type": "application/json"}, b"{}"))
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    assert client.get_manifest(_ref(proxy.host, f"{repo}:v1")).digest == image.digest
    assert [(r.user, r.status) for r in token_server.requests] == [("alice", 200)]


# -- where credentials come from --


def _install_credential_helper(
    directory: Path, name: str, secrets: dict[str, tuple[str, str]]
) -> Path:
    """A `docker-credential-<name>` answering `get` from `secrets`; returns its call log."""
    calls = directory / f"{name}.calls"
    table = {key: {"Username": u, "Secret": s} for key, (u, s) in secrets.items()}
    script = directory / f"docker-credential-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "key = sys.stdin.read()\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + ' ' + key + '\\n')\n"
        f"table = {table!r}\n"
        "if sys.argv[1:] != ['get'] or key not in table:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
        "print(json.dumps({'ServerURL': key, **table[key]}))\n"
    )
    script.chmod(0o755)
    return calls


def test_credential_helper_serves_basic_and_token_registries(
    registry_basic, registry_token, token_server, docker_config, client_for, tmp_path, monkeypatch
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = _install_credential_helper(
        bin_dir,
        "rigpass",
        {registry_basic.host: ("alice", "alice-pw"), registry_token.host: ("alice", "alice-pw")},
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    docker_config.write(
        {"credHelpers": {registry_basic.host: "rigpass", registry_token.host: "rigpass"}}
    )
    client = client_for(Keychain())
    for registry in (registry_basic, registry_token):
        image = make_image("linux", "arm64", layer_text=f"helper push to {registry.kind}")
        ref = _ref(registry.host, "auth/helper:v1")
        assert _push(client, ref, image) == image.digest
    assert calls.read_text().splitlines() == [
        f"get {registry_basic.host}",
        f"get {registry_token.host}",
    ]
    assert {r.user for r in token_server.requests} == {"alice"}


def test_config_json_auths_are_used_by_the_default_keychain(
    registry_basic, docker_config, client_for
):
    docker_config.add_auth(registry_basic.host, "bob", "bob-pw")
    client = client_for(Keychain())
    image = make_image("linux", "amd64", layer_text="config.json auths")
    ref = _ref(registry_basic.host, "auth/config:v1")
    assert _push(client, ref, image) == image.digest


def test_registry_token_from_config_is_sent_as_bearer_without_a_token_request(
    registry_token, token_server, docker_config, client_for
):
    image = make_image("linux", "amd64", layer_text="registrytoken")
    push_image(registry_token, "auth/regtoken", "v1", image)
    token_server.reset()
    ready = token_server.issue_token(
        "alice", [{"type": "repository", "name": "auth/regtoken", "actions": ["pull"]}]
    )
    docker_config.write({"auths": {registry_token.host: {"registrytoken": ready}}})
    client = client_for(Keychain())
    assert client.get_manifest(_ref(registry_token.host, "auth/regtoken:v1")).digest == image.digest
    assert token_server.requests == []


# -- the token cache --


@pytest.fixture
def token_repo(registry_token, token_server) -> tuple[str, Image]:
    """auth/cached:v1 on the token registry, pushed by the rig; token log emptied."""
    image = make_image("linux", "amd64", layer_text="cached tokens")
    push_image(registry_token, "auth/cached", "v1", image)
    token_server.reset()
    return "auth/cached", image


def test_repeated_reads_of_one_repository_fetch_one_token(
    registry_token, token_server, token_repo, client_for, tmp_path
):
    repo, image = token_repo
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    ref = _ref(registry_token.host, f"{repo}:v1")
    for _ in range(2):
        assert client.get_manifest(ref).digest == image.digest
        assert client.head_manifest(ref).digest == image.digest
        assert client.blob_exists(ref, image.layer.digest)
        assert client.get_blob(ref, image.config.digest) == image.config.data
    assert [r.scopes for r in token_server.requests] == [[f"repository:{repo}:pull"]]


def test_push_token_also_serves_later_pulls(registry_token, token_server, client_for, tmp_path):
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    image = make_image("linux", "amd64", layer_text="push then pull")
    ref = _ref(registry_token.host, "auth/pushpull:v1")
    _push(client, ref, image)
    assert client.get_manifest(ref).digest == image.digest
    assert client.blob_exists(ref, image.layer.digest)
    assert [r.scopes for r in token_server.requests] == [["repository:auth/pushpull:pull,push"]]


def test_another_repository_gets_its_own_token(
    registry_token, token_server, token_repo, client_for, tmp_path
):
    repo, image = token_repo
    push_image(registry_token, "auth/cached-sibling", "v1", image)
    token_server.reset()
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    client.get_manifest(_ref(registry_token.host, f"{repo}:v1"))
    client.get_manifest(_ref(registry_token.host, "auth/cached-sibling:v1"))
    client.get_manifest(_ref(registry_token.host, f"{repo}:v1"))
    assert [r.scopes for r in token_server.requests] == [
        [f"repository:{repo}:pull"],
        ["repository:auth/cached-sibling:pull"],
    ]


def test_mount_token_also_covers_the_source_repository(
    registry_token, token_server, token_repo, client_for, tmp_path
):
    repo, image = token_repo
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    target = _ref(registry_token.host, "auth/mounted")
    assert client.mount_blob(target, image.layer.digest, _ref(registry_token.host, repo))
    assert client.blob_exists(target, image.layer.digest)
    assert [sorted(r.scopes) for r in token_server.requests] == [
        ["repository:auth/cached:pull", "repository:auth/mounted:pull,push"]
    ]


def test_insufficient_scope_earns_exactly_one_reauth_with_the_named_scope(
    registry_token, token_server, token_repo, fault_proxy, client_for, tmp_path
):
    repo, image = token_repo
    proxy = fault_proxy(registry_token)
    challenge = (
        f'Bearer realm="{token_server.realm}",service="{token_server.service}",'
        f'scope="repository:auth/extra:pull",error="insufficient_scope"'
    )
    body = json.dumps({"errors": [{"code": "DENIED", "message": "insufficient scope"}]})
    proxy.add_fault(
        ("GET", "/manifests/"),
        status(401, {"WWW-Authenticate": challenge}, body.encode()),
    )
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    assert client.get_manifest(_ref(proxy.host, f"{repo}:v1")).digest == image.digest
    assert [sorted(r.scopes) for r in token_server.requests] == [
        [f"repository:{repo}:pull"],
        sorted(["repository:auth/extra:pull", f"repository:{repo}:pull"]),
    ]
    assert [r.status for r in proxy.requests if "/manifests/" in r.path] == [401, 200]


# -- OAuth2 with identity tokens --


def test_identity_token_is_exchanged_with_an_oauth_post(
    registry_token, token_server, docker_config, client_for
):
    refresh = _refresh_token(token_server, "alice", "alice-pw")
    docker_config.write(
        {"auths": {registry_token.host: {"auth": _b64("alice:"), "identitytoken": refresh}}}
    )
    client = client_for(Keychain())
    image = make_image("linux", "amd64", layer_text="oauth post")
    assert _push(client, _ref(registry_token.host, "auth/oauth:v1"), image) == image.digest
    assert [(r.method, r.grant_type, r.user, r.scopes) for r in token_server.requests] == [
        ("POST", "refresh_token", "alice", ["repository:auth/oauth:pull,push"])
    ]


def test_refused_oauth_post_falls_back_to_get(
    registry_token, token_server, docker_config, client_for, caplog
):
    refresh = _refresh_token(token_server, "alice", "alice-pw")
    token_server.post_enabled = False  # answers POST with 404, as GCR does
    docker_config.write(
        {"auths": {registry_token.host: {"auth": _b64("alice:alice-pw"), "identitytoken": refresh}}}
    )
    caplog.set_level(logging.DEBUG, logger="manifestor.http")
    client = client_for(Keychain())
    image = make_image("linux", "amd64", layer_text="oauth fallback")
    assert _push(client, _ref(registry_token.host, "auth/fallback:v1"), image) == image.digest
    # The rig's token server does not log a refused POST, so the client's trace shows it.
    sent = [
        line.split()[1]
        for line in caplog.messages
        if line.startswith("> ") and token_server.realm in line
    ]
    assert sent == ["POST", "GET"]
    assert [(r.method, r.user, r.status) for r in token_server.requests] == [("GET", "alice", 200)]


# -- the debug trace --


def test_debug_trace_never_shows_a_password_token_or_upload_state(
    registry_basic, registry_token, token_server, client_for, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="manifestor")
    client = client_for(_user(tmp_path, "alice", "alice-pw"))
    for registry in (registry_basic, registry_token):
        image = make_image("linux", "amd64", layer_text=f"traced push to {registry.kind}")
        _push(client, _ref(registry.host, "auth/traced:v1"), image)
    trace = caplog.text
    # The trace did record the exchanges whose secrets it must hide...
    assert "Authorization: Basic REDACTED" in trace
    assert "Authorization: Bearer REDACTED" in trace
    assert "_state=REDACTED" in trace
    # ...and none of the secrets themselves.
    assert "alice-pw" not in trace
    assert _b64("alice:alice-pw") not in trace
    assert JWT_PREFIX not in trace
    assert not re.search(r"_state=(?!REDACTED)", trace)


def test_debug_trace_never_shows_an_identity_token(
    registry_token, token_server, docker_config, client_for, caplog
):
    refresh = _refresh_token(token_server, "alice", "alice-pw")
    docker_config.write(
        {"auths": {registry_token.host: {"auth": _b64("alice:"), "identitytoken": refresh}}}
    )
    caplog.set_level(logging.DEBUG, logger="manifestor")
    client = client_for(Keychain())
    image = make_image("linux", "amd64", layer_text="traced oauth push")
    _push(client, _ref(registry_token.host, "auth/traced-oauth:v1"), image)
    assert f"> POST {token_server.realm}" in caplog.text
    assert refresh not in caplog.text
    assert JWT_PREFIX not in caplog.text
