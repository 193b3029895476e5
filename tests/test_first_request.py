"""The first request to a registry without a ping (issue 11): when no credential is
configured for a registry, its first real read goes straight to the scheme a ping would
try first; the ping comes only when a reply leaves doubt, or when credentials are
configured (so a credential is sent only where a challenge asked for it)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from fakereg import FakeRegistry
from fakereg.auth import AuthConfig
from logichelpers import FAST_RETRY, fake_client, ref

from manifestor.errors import TransportError
from manifestor.local.keychain import Keychain
from manifestor.model.oci import parse_manifest
from manifestor.model.reference import parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.transport import Transport

BEARER = AuthConfig("bearer", {"alice": "pw"}, anonymous=[("public/*", ["pull"])])


def _paths(registry: FakeRegistry) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in registry.log.entries]


def test_an_anonymous_registry_gets_no_ping(fake, client):
    image = fake.seed_image("team/app", "linux/amd64", tag="1.0")
    fake.log.clear()
    assert client.head_manifest(ref(fake, "team/app:1.0")).digest == image.digest
    client.get_manifest(ref(fake, "team/app:1.0"))
    assert _paths(fake) == [
        ("HEAD", "/v2/team/app/manifests/1.0"),
        ("GET", "/v2/team/app/manifests/1.0"),
    ]


def test_a_token_registry_challenges_the_first_request_and_an_anonymous_token_follows(
    tmp_path,
):
    with FakeRegistry(auth=BEARER) as reg, fake_client(tmp_path) as client:
        reg.seed_image("public/app", "linux/amd64", tag="1.0")
        reg.log.clear()
        client.get_manifest(ref(reg, "public/app:1.0"))
        client.get_manifest(ref(reg, "public/app:1.0"))
        kinds = [(e.method, e.path.split("/")[-1], e.status) for e in reg.log.entries]
    # 401 with the challenge, the token, the read again; then the token is reused.
    assert kinds[0] == ("GET", "1.0", 401)
    assert [k for k in kinds if k[1] == "token"] == [("GET", "token", 200)]
    assert kinds[-2:] == [("GET", "1.0", 200), ("GET", "1.0", 200)]
    assert ("GET", "", 200) not in kinds  # no /v2/ ping


def test_configured_credentials_keep_the_ping(tmp_path):
    config = tmp_path / "docker"
    with FakeRegistry(auth=BEARER) as reg:
        config.mkdir()
        (config / "config.json").write_text(
            json.dumps({"auths": {reg.host: {"auth": "YWxpY2U6cHc="}}})  # alice:pw
        )
        keychain = Keychain(config, environ={})
        transport = Transport(retry=FAST_RETRY, sleep=lambda s: None)
        reg.seed_image("team/app", "linux/amd64", tag="1.0")
        reg.log.clear()
        with RegistryClient(keychain=keychain, transport=transport) as client:
            client.get_manifest(ref(reg, "team/app:1.0"))
        first = reg.log.entries[0]
    assert (first.method, first.path) == ("GET", "/v2/")


def test_a_write_first_is_sent_only_after_a_ping(fake, client):
    """Only a read may go to a guessed scheme: it can be sent again elsewhere."""
    image = fake.seed_image("team/app", "linux/amd64")
    fake.log.clear()
    manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
    client.put_manifest(ref(fake, "team/app:2.0"), manifest)
    assert _paths(fake) == [("GET", "/v2/"), ("PUT", "/v2/team/app/manifests/2.0")]


class _NotARegistry(http.server.BaseHTTPRequestHandler):
    """A web server on the registry's address: 404 pages for everything but its home."""

    def _answer(self) -> None:
        status = 200 if self.path == "/" else 404
        body = b"<html>not here</html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer  # noqa: N815 - http.server's naming

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotARegistry)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_no_registry_is_named_so_not_missing_a_manifest(web_server, client):
    with pytest.raises(TransportError, match="does not look like a registry: GET /v2/"):
        client.head_manifest(parse_reference(f"{web_server}/team/app:1.0"))


HOST = "reg.example:5000"


@pytest.mark.parametrize(
    ("config", "containers", "environ", "expected"),
    [
        (None, None, {}, False),
        ({"auths": {"other.example": {"auth": "dTpw"}}}, None, {}, False),
        ({"auths": {"reg.example:5000": {"auth": "dTpw"}}}, None, {}, True),
        ({"credsStore": "pass"}, None, {}, True),
        ({"credHelpers": {"reg.example:5000": "ecr-login"}}, None, {}, True),
        (None, {"auths": {"reg.example:5000": {"auth": "dTpw"}}}, {}, True),
        (None, {"credHelpers": {"reg.example:5000": "x"}}, {}, True),
        (None, None, {"DOCKER_AUTH_CONFIG": json.dumps({"auths": {HOST: {"auth": "dTpw"}}})}, True),
        ("{not json", None, {}, True),  # resolving will say what is wrong with it
    ],
    ids=["none", "other-host", "auths", "creds-store", "cred-helper", "containers-auths",
         "containers-helper", "env", "broken-config"],
)
def test_may_have_says_whether_a_credential_could_be_found(
    tmp_path, config, containers, environ, expected
):
    docker = tmp_path / "docker"
    docker.mkdir()
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (docker / "config.json").write_text(text)
    files = []
    if containers is not None:
        files.append(tmp_path / "auth.json")
        files[0].write_text(json.dumps(containers))
    keychain = Keychain(docker, environ=environ, containers_files=files)
    assert keychain.may_have("reg.example:5000") is expected
