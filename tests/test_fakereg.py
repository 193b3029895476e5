"""The scripted in-process registry (tests/fakereg), driven with plain `requests`: the v2 API
as distribution 2.8 answers it, scripting and observation, and every personality switch."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from fakereg import (
    AuthConfig,
    FakeImage,
    FakeRegistry,
    call,
    delay,
    drip,
    fail,
    lose_reply,
    make_image,
    make_list,
    passthrough,
    reset,
    respond,
    truncate,
)
from fakereg.images import DOCKER_LIST, DOCKER_MANIFEST, MANIFEST_TYPES, OCI_MANIFEST
from fakereg.wire import sha256_digest

ACCEPT_ALL = {"Accept": ", ".join(MANIFEST_TYPES)}


@pytest.fixture
def reg() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def _with(reg: FakeRegistry, **switches: object) -> None:
    reg.personality = dataclasses.replace(reg.personality, **switches)


def codes(response: requests.Response) -> list[str]:
    return [e.get("code") for e in response.json()["errors"]]


def upload_blob(http: requests.Session, reg: FakeRegistry, repo: str, data: bytes) -> str:
    started = http.post(f"{reg.url}/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    digest = sha256_digest(data)
    done = http.put(started.headers["Location"], params={"digest": digest}, data=data)
    assert done.status_code == 201, done.text
    return digest


def put_manifest(
    http: requests.Session, reg: FakeRegistry, repo: str, ref: str, data: bytes, media_type: str
) -> requests.Response:
    return http.put(
        f"{reg.url}/v2/{repo}/manifests/{ref}", data=data, headers={"Content-Type": media_type}
    )


def push_image(
    http: requests.Session, reg: FakeRegistry, repo: str, image: FakeImage, ref: str | None = None
) -> requests.Response:
    for blob in (image.config, image.layer):
        upload_blob(http, reg, repo, blob.data)
    manifest = image.manifest
    return put_manifest(http, reg, repo, ref or image.digest, manifest.data, manifest.media_type)


def bearer(http: requests.Session, challenge: str, user: tuple[str, str] | None = None) -> str:
    """Follow a Bearer challenge to the token endpoint; returns the token."""
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    query = {"service": params["service"], "scope": params.get("scope", "").split()}
    answer = http.get(params["realm"], params=query, auth=user)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


# -- v2 API basics --


def test_ping_answers_200_with_the_api_version_header(reg, http):
    response = http.get(f"{reg.url}/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_push_image_and_list_with_plain_requests(reg, http):
    amd64, arm64 = make_image("linux/amd64"), make_image("linux/arm64/v8")
    for image in (amd64, arm64):
        assert push_image(http, reg, "team/app", image).status_code == 201
    listed = make_list([amd64, arm64])
    put = put_manifest(http, reg, "team/app", "v1", listed.data, DOCKER_LIST)
    assert put.status_code == 201
    assert put.headers["Docker-Content-Digest"] == listed.digest
    got = http.get(f"{reg.url}/v2/team/app/manifests/v1", headers=ACCEPT_ALL)
    assert got.content == listed.data
    assert got.headers["Content-Type"] == DOCKER_LIST
    assert got.headers["Docker-Content-Digest"] == listed.digest
    head = http.head(f"{reg.url}/v2/team/app/manifests/{listed.digest}", headers=ACCEPT_ALL)
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(listed.data)))
    blob = http.get(f"{reg.url}/v2/team/app/blobs/{amd64.layer.digest}")
    assert blob.content == amd64.layer.data
    assert blob.headers["Docker-Content-Digest"] == amd64.layer.digest
    tags = http.get(f"{reg.url}/v2/team/app/tags/list").json()
    assert tags == {"name": "team/app", "tags": ["v1"]}
    assert reg.tags("team/app") == {"v1": listed.digest}
    assert reg.get_manifest("team/app", "v1").data == listed.data


def test_list_put_with_a_missing_child_is_manifest_blob_unknown(reg, http):
    present = reg.seed_image("app", "linux/amd64")
    absent = make_image("linux/s390x")
    listed = make_list([present, absent])
    response = put_manifest(http, reg, "app", "v1", listed.data, DOCKER_LIST)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "MANIFEST_BLOB_UNKNOWN",
            "message": "blob unknown to registry",
            "detail": absent.digest,
        }
    ]
    assert reg.tags("app") == {}


def test_image_put_with_a_missing_layer_is_manifest_blob_unknown(reg, http):
    image = make_image("linux/amd64")
    reg.put_blob("app", image.config.data)
    response = put_manifest(http, reg, "app", "v1", image.manifest.data, DOCKER_MANIFEST)
    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == image.layer.digest


def test_manifest_put_checks_digest_and_media_type(reg, http):
    image = reg.seed_image("app", "linux/amd64")
    wrong = put_manifest(
        http, reg, "app", "sha256:" + "0" * 64, image.manifest.data, DOCKER_MANIFEST
    )
    assert (wrong.status_code, codes(wrong)) == (400, ["DIGEST_INVALID"])
    mismatch = put_manifest(http, reg, "app", "v1", image.manifest.data, OCI_MANIFEST)
    assert (mismatch.status_code, codes(mismatch)) == (400, ["MANIFEST_INVALID"])
    garbage = put_manifest(http, reg, "app", "v1", b"{not json", DOCKER_MANIFEST)
    assert codes(garbage) == ["MANIFEST_INVALID"]


def test_blob_upload_verifies_the_digest_and_knows_its_uploads(reg, http):
    started = http.post(f"{reg.url}/v2/app/blobs/uploads/")
    location = started.headers["Location"]
    assert "?_state=" in location and reg.uploads_open() == 1
    bad = http.put(location, params={"digest": sha256_digest(b"other")}, data=b"data")
    assert (bad.status_code, codes(bad)) == (400, ["DIGEST_INVALID"])
    unknown = http.put(f"{reg.url}/v2/app/blobs/uploads/nope", params={"digest": "x"})
    assert (unknown.status_code, codes(unknown)) == (404, ["BLOB_UPLOAD_UNKNOWN"])
    assert not reg.blob_exists("app", sha256_digest(b"data"))


def test_chunked_upload_status_and_cancel(reg, http):
    location = http.post(f"{reg.url}/v2/app/blobs/uploads/").headers["Location"]
    patched = http.patch(location, data=b"hello ", headers={"Content-Range": "0-5"})
    assert (patched.status_code, patched.headers["Range"]) == (202, "0-5")
    status = http.get(patched.headers["Location"])
    assert (status.status_code, status.headers["Range"]) == (204, "0-5")
    out_of_order = http.patch(location, data=b"x", headers={"Content-Range": "0-0"})
    assert out_of_order.status_code == 416
    digest = sha256_digest(b"hello world")
    done = http.put(patched.headers["Location"], params={"digest": digest}, data=b"world")
    assert done.status_code == 201 and reg.blob_exists("app", digest)
    second = http.post(f"{reg.url}/v2/app/blobs/uploads/").headers["Location"]
    assert http.delete(second).status_code == 204
    assert reg.uploads_open() == 0


def test_monolithic_post_with_digest(reg, http):
    digest = sha256_digest(b"one shot")
    response = http.post(
        f"{reg.url}/v2/app/blobs/uploads/", params={"digest": digest}, data=b"one shot"
    )
    assert response.status_code == 201 and reg.blob_exists("app", digest)


def test_cross_repo_mount_links_a_known_blob_else_starts_an_upload(reg, http):
    digest = reg.put_blob("base", b"shared layer")
    mounted = http.post(
        f"{reg.url}/v2/app/blobs/uploads/", params={"mount": digest, "from": "base"}
    )
    assert mounted.status_code == 201 and mounted.headers["Docker-Content-Digest"] == digest
    assert reg.blob_exists("app", digest)
    missing = http.post(
        f"{reg.url}/v2/app/blobs/uploads/", params={"mount": sha256_digest(b"nope"), "from": "base"}
    )
    assert missing.status_code == 202 and reg.uploads_open() == 1


def test_tag_list_paginates_with_a_link_header(reg, http):
    image = reg.seed_image("app", "linux/amd64")
    for tag in ("a", "b", "c", "d", "e"):
        reg.put_manifest("app", tag, image.manifest.data, DOCKER_MANIFEST)
    first = http.get(f"{reg.url}/v2/app/tags/list", params={"n": 2})
    assert first.json()["tags"] == ["a", "b"]
    assert first.headers["Link"] == '</v2/app/tags/list?last=b&n=2>; rel="next"'
    rest = http.get(f"{reg.url}/v2/app/tags/list", params={"n": 2, "last": "d"})
    assert rest.json()["tags"] == ["e"] and "Link" not in rest.headers
    unknown = http.get(f"{reg.url}/v2/nothing/tags/list")
    assert (unknown.status_code, codes(unknown)) == (404, ["NAME_UNKNOWN"])


def test_narrow_accept_gets_the_amd64_child_or_a_404_for_oci(reg, http):
    amd64, arm64 = reg.seed_image("app", "linux/amd64"), reg.seed_image("app", "linux/arm64")
    reg.seed_list("app", "docker", [amd64, arm64])
    narrow = {"Accept": DOCKER_MANIFEST}
    got = http.get(f"{reg.url}/v2/app/manifests/docker", headers=narrow)
    assert got.content == amd64.manifest.data
    oci = [reg.seed_image("app", "linux/amd64", media="oci")]
    reg.seed_list("app", "oci", oci, media="oci")
    refused = http.get(f"{reg.url}/v2/app/manifests/oci", headers=narrow)
    assert refused.status_code == 404
    assert "accept header does not support OCI indexes" in refused.text


def test_delete_by_digest_removes_the_manifest_and_its_tags(reg, http):
    image = reg.seed_image("app", "linux/amd64", tag="v1")
    assert http.delete(f"{reg.url}/v2/app/manifests/{image.digest}").status_code == 202
    assert reg.tags("app") == {} and reg.get_manifest("app", image.digest) is None
    gone = http.get(f"{reg.url}/v2/app/manifests/v1", headers=ACCEPT_ALL)
    assert codes(gone) == ["MANIFEST_UNKNOWN"]


def test_basic_auth_challenges_then_admits(reg, http):
    reg.auth = AuthConfig("basic", {"alice": "pw"})
    challenge = http.get(f"{reg.url}/v2/")
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == 'Basic realm="fakereg"'
    assert http.get(f"{reg.url}/v2/", auth=("alice", "pw")).status_code == 200
    assert http.get(f"{reg.url}/v2/", auth=("alice", "bad")).status_code == 401


def test_bearer_auth_challenge_token_and_insufficient_scope(reg, http):
    reg.auth = AuthConfig("bearer", {"bob": "pw"}, grants={"bob": [("team/*", ["pull"])]})
    reg.seed_image("team/app", "linux/amd64", tag="v1")
    url = f"{reg.url}/v2/team/app/manifests/v1"
    challenge = http.get(url, headers=ACCEPT_ALL).headers["WWW-Authenticate"]
    assert challenge == (
        f'Bearer realm="{reg.url}/token",service="fakereg",scope="repository:team/app:pull"'
    )
    token = bearer(http, challenge, ("bob", "pw"))
    auth = {"Authorization": f"Bearer {token}", **ACCEPT_ALL}
    assert http.get(url, headers=auth).status_code == 200
    push = http.post(f"{reg.url}/v2/team/app/blobs/uploads/", headers=auth)
    assert push.status_code == 401
    assert 'error="insufficient_scope"' in push.headers["WWW-Authenticate"]
    assert 'scope="repository:team/app:pull,push"' in push.headers["WWW-Authenticate"]


# -- scripting and observation --


def test_scripted_answer_is_used_times_then_the_registry_answers(reg, http):
    reg.script(("GET", r"^/v2/$"), respond(503, "busy"), times=2)
    statuses = [http.get(f"{reg.url}/v2/").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert reg.count("GET", r"^/v2/$") == 3 and reg.count(status=503) == 2


def test_scripted_error_has_distributions_body(reg, http):
    reg.script(("HEAD", r"/manifests/"), passthrough())
    reg.script((None, r"/manifests/"), fail(429, "TOOMANYREQUESTS", "slow down"), times=None)
    assert http.head(f"{reg.url}/v2/app/manifests/v1").status_code == 404  # passthrough first
    for _ in range(2):
        response = http.get(f"{reg.url}/v2/app/manifests/v1")
        assert (response.status_code, codes(response)) == (429, ["TOOMANYREQUESTS"])


def test_lost_reply_commits_the_blob_but_resets_the_connection(reg, http):
    reg.script(("PUT", r"/blobs/uploads/"), lose_reply())
    location = http.post(f"{reg.url}/v2/app/blobs/uploads/").headers["Location"]
    digest = sha256_digest(b"layer")
    with pytest.raises(requests.ConnectionError):
        http.put(location, params={"digest": digest}, data=b"layer")
    assert reg.blob_exists("app", digest)
    logged = reg.log.select("PUT")[0]
    assert (logged.status, logged.delivered) == (201, False)


def test_reset_before_handling_changes_nothing(reg, http):
    reg.script(("POST", r"/blobs/uploads/"), reset())
    with pytest.raises(requests.ConnectionError):
        http.post(f"{reg.url}/v2/app/blobs/uploads/")
    assert reg.uploads_open() == 0
    assert http.post(f"{reg.url}/v2/app/blobs/uploads/").status_code == 202


def test_callback_moves_a_tag_between_a_clients_head_and_put(reg, http):
    old, new = reg.seed_image("app", "linux/amd64"), reg.seed_image("app", "linux/arm64")
    reg.put_manifest("app", "v1", old.manifest.data, DOCKER_MANIFEST)
    racer = make_image("linux/riscv64")
    reg.seed_image("app", "linux/riscv64")

    def move_tag(_request) -> None:
        reg.put_manifest("app", "v1", new.manifest.data, DOCKER_MANIFEST)

    reg.script(("PUT", r"/manifests/v1$"), call(move_tag))
    seen = http.head(f"{reg.url}/v2/app/manifests/v1", headers=ACCEPT_ALL)
    assert seen.headers["Docker-Content-Digest"] == old.digest
    assert reg.tags("app")["v1"] == old.digest
    put_manifest(http, reg, "app", "v1", racer.manifest.data, DOCKER_MANIFEST)
    assert reg.count("PUT", r"/manifests/v1$") == 1
    assert reg.tags("app")["v1"] == racer.digest


def test_truncated_and_dripped_bodies(reg, http):
    digest = reg.put_blob("app", b"x" * 1000)
    url = f"{reg.url}/v2/app/blobs/{digest}"
    reg.script(("GET", r"/blobs/"), truncate(10))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url)
    reg.script(("GET", r"/blobs/"), drip(250, 0.01))
    started = time.monotonic()
    assert http.get(url).content == b"x" * 1000
    assert time.monotonic() - started >= 0.03


def test_max_in_flight_counts_concurrent_requests(reg):
    reg.script(("GET", r"^/v2/$"), delay(0.2), times=None)

    def ping() -> None:
        with requests.Session() as session:
            session.trust_env = False
            session.get(f"{reg.url}/v2/")

    threads = [threading.Thread(target=ping) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reg.max_in_flight == 3
    assert reg.log.select()[0].headers == {"accept": "*/*"}


def test_predicate_match_and_logged_headers(reg, http):
    reg.script(lambda request: request.arg("mount") is not None, respond(500), times=None)
    mount = http.post(f"{reg.url}/v2/app/blobs/uploads/", params={"mount": "x", "from": "y"})
    assert mount.status_code == 500
    assert reg.log.select("POST")[0].query == {"mount": ["x"], "from": ["y"]}
