"""Edge cases found in review: credentials never follow a registry-given URL to another
host, tags are validated before anything is written, digest-pinned targets still publish
their tag, and odd input ends in one line, not a traceback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from clihelpers import assert_one_line_error, last_line_digest, make_cli, push_arches, ref, repo_for
from oneshothelpers import tag_absent

from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.reference import parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "images"


class _Recorder(BaseHTTPRequestHandler):
    """A fake registry (Basic auth) whose upload Location points at another host."""

    seen: list[tuple[str, str, str | None]]
    elsewhere: str

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        host = self.headers.get("Host", "")
        self.seen.append((self.command, host, self.headers.get("Authorization")))
        if self.path == "/v2/" and not self.headers.get("Authorization"):
            self._answer(401, {"WWW-Authenticate": 'Basic realm="fake"'})
        elif self.command == "POST":
            self._answer(202, {"Location": f"{self.elsewhere}/upload/1?_state=x"})
        else:
            self._answer(201 if self.command == "PUT" else 200)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, str, list]]:
    seen: list = []
    servers = []
    for host in ("127.0.0.1", "127.0.0.2"):
        handler = type("H", (_Recorder,), {"seen": seen, "elsewhere": ""})
        server = ThreadingHTTPServer((host, 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    registry = f"127.0.0.1:{servers[0].server_address[1]}"
    other = f"127.0.0.2:{servers[1].server_address[1]}"
    servers[0].RequestHandlerClass.elsewhere = f"http://{other}"
    yield registry, other, seen
    for server in servers:
        server.shutdown()
        server.server_close()


def test_upload_location_on_another_host_gets_no_credentials(two_hosts, tmp_path):
    registry, other, seen = two_hosts
    keychain = Keychain(tmp_path, username="alice", password="s3cret")
    with RegistryClient(keychain=keychain, retry=RetryPolicy(attempts=1)) as client:
        repo = parse_reference(f"{registry}/lab/app")
        client.upload_blob(repo, "sha256:" + "0" * 64, BodySource.of_bytes(b"blob"))
    to_registry = [auth for method, host, auth in seen if host == registry and method == "POST"]
    to_other = [(method, auth) for method, host, auth in seen if host == other]
    assert to_registry and all(auth for auth in to_registry)  # the registry got credentials
    assert to_other == [("PUT", None)]  # the other host got the upload, and no Authorization


def test_a_bad_extra_tag_stops_the_push_before_anything_is_written(
    registry_plain, rig_client, request, tmp_path
):
    repo = repo_for(request)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    cli = make_cli(tmp_path)
    host = registry_plain.host
    result = cli.run(
        "push",
        ref(host, repo, "v1"),
        ref(host, repo, "amd64"),
        ref(host, repo, "arm64"),
        "--tag",
        "../../../v2/x",
    )
    assert_one_line_error(result, 2, "../../../v2/x")
    assert tag_absent(rig_client(registry_plain), repo, "v1")


def test_a_digest_pinned_target_still_publishes_its_tag(
    registry_plain, rig_client, request, tmp_path
):
    repo = repo_for(request)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    cli = make_cli(tmp_path)
    host = registry_plain.host
    sources = [ref(host, repo, "amd64"), ref(host, repo, "arm64")]
    digest = last_line_digest(cli.ok("push", ref(host, repo, "v1"), *sources))
    pinned = f"{host}/{repo}:v2@{digest}"
    assert last_line_digest(cli.ok("push", pinned, *sources)) == digest
    served = rig_client(registry_plain).get_manifest(repo, "v2")
    assert served.status_code == 200 and served.headers["Docker-Content-Digest"] == digest


def test_a_stated_platform_on_a_source_the_filter_empties_is_one_line(registry_plain, tmp_path):
    cli = make_cli(tmp_path)
    result = cli.run(
        "push",
        f"{registry_plain.host}/cli/filtered:v1",
        f"{FIXTURES / 'linux-amd64'}=linux/amd64",
        "--platform",
        "linux/arm64",
        "--dry-run",
    )
    assert_one_line_error(result, 2, "no image for the requested platforms")


def test_verify_fails_a_list_without_images(registry_plain, rig_client, request, tmp_path):
    repo = repo_for(request)
    empty = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [],
    }
    body = json.dumps(empty).encode()
    response = rig_client(registry_plain).session.put(
        f"{registry_plain.url}/v2/{repo}/manifests/empty",
        data=body,
        headers={"Content-Type": empty["mediaType"]},
    )
    assert response.status_code == 201, response.text
    result = make_cli(tmp_path).run("verify", ref(registry_plain.host, repo, "empty"))
    assert result.returncode == 1, str(result)
    assert "the list has no images" in result.stdout


def test_a_username_without_a_password_in_the_environment_is_one_line(registry_plain, tmp_path):
    cli = make_cli(tmp_path)
    env = {**cli.env(), "MANIFESTOR_USERNAME": "alice"}
    env.pop("MANIFESTOR_PASSWORD", None)
    import subprocess

    done = subprocess.run(
        cli.command(["inspect", f"{registry_plain.host}/cli/none:v1"]),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "manifestor: error: MANIFESTOR_USERNAME is set but MANIFESTOR_PASSWORD is not"
    )
