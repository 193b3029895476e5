"""The scripted in-process registry (tests/fakereg), driven with plain `requests`: the v2 API
as distribution 2.8 answers it, scripting and observation, and every personality switch."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
import requests
from fakereg import (
    PERSONALITIES,
    AuthConfig,
    FakeImage,
    FakeRegistry,
    Personality,
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
from fakereg.images import DOCKER_LIST, DOCKER_MANIFEST, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST
from fakereg.personality import (
    ACR_LOCKED,
    ARTIFACTORY_IMMUTABLE,
    ECR_IMMUTABLE,
    HARBOR_IMMUTABLE,
    HUB_IMMUTABLE,
    QUAY_IMMUTABLE,
    ZERO_UUID_USER,
    Immutability,
)
from fakereg.wire import sha256_digest

ACCEPT_ALL = {"Accept": ", ".join(MANIFEST_TYPES)}


@pytest.fixture
def reg(fake_registry: FakeRegistry) -> FakeRegistry:
    return fake_registry


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


def test_repeated_accept_headers_count_as_one_list(reg):
    amd64 = reg.seed_image("app", "linux/amd64")
    reg.seed_list("app", "v1", [amd64])
    connection = HTTPConnection(reg.host, timeout=5)
    connection.putrequest("GET", "/v2/app/manifests/v1")
    connection.putheader("Accept", DOCKER_MANIFEST)
    connection.putheader("Accept", DOCKER_LIST)
    connection.endheaders()
    response = connection.getresponse()
    assert (response.status, response.getheader("Content-Type")) == (200, DOCKER_LIST)
    connection.close()


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
    assert reg.tag_puts("app") == 1
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


# -- personalities: one test per switch --


def token_for(
    http: requests.Session,
    reg: FakeRegistry,
    *scopes: str,
    user: tuple[str, str] | None = ("u", "pw"),
) -> requests.Response:
    return http.get(
        f"{reg.url}/token", params={"service": "fakereg", "scope": list(scopes)}, auth=user
    )


def with_token(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


@pytest.fixture
def bearer_reg(reg: FakeRegistry) -> FakeRegistry:
    reg.auth = AuthConfig("bearer", {"u": "pw", "quay-robot": "pw"}, anonymous=[("*", ["pull"])])
    return reg


def test_every_personality_switch_has_a_test_here():
    source = Path(__file__).read_text()
    switches = [f.name for f in dataclasses.fields(Personality) if f.name != "name"]
    assert [switch for switch in switches if f"{switch}=" not in source] == []


def test_presets_are_named_personalities_that_differ_from_distribution():
    for name, personality in PERSONALITIES.items():
        assert personality.name == name
        assert (personality == Personality(name=name)) == (name == "distribution")


@pytest.mark.parametrize(
    "profile",
    [
        ECR_IMMUTABLE,
        HARBOR_IMMUTABLE,
        QUAY_IMMUTABLE,
        HUB_IMMUTABLE,
        ACR_LOCKED,
        ARTIFACTORY_IMMUTABLE,
    ],
)
def test_immutable_tags_refuse_even_the_same_digest(reg, http, profile: Immutability):
    image = reg.seed_image("app", "linux/amd64", tag="v1")
    again = put_manifest(http, reg, "app", "v1", image.manifest.data, DOCKER_MANIFEST)
    assert again.status_code == 201  # distribution overwrites
    _with(reg, immutable=profile)
    refused = put_manifest(http, reg, "app", "v1", image.manifest.data, DOCKER_MANIFEST)
    assert refused.status_code == profile.status
    assert refused.json()["errors"][0]["code"] == profile.code
    assert (
        put_manifest(http, reg, "app", "v2", image.manifest.data, DOCKER_MANIFEST).status_code
        == 201
    )
    if profile is ECR_IMMUTABLE:
        assert refused.json()["errors"][0]["message"] == (
            "The image tag 'v1' already exists in the 'app' repository and cannot be"
            " overwritten because the repository is immutable."
        )


def test_repositories_must_exist_when_auto_create_is_off(reg, http):
    reg.personality = PERSONALITIES["ecr"]
    refused = http.post(f"{reg.url}/v2/app/blobs/uploads/")
    assert (refused.status_code, codes(refused)) == (404, ["NAME_UNKNOWN"])
    assert "'app' does not exist in the registry with id" in refused.json()["errors"][0]["message"]
    _with(reg, auto_create=False, name_unknown_message="repository {repo} not found")
    assert "repository app not found" in http.get(f"{reg.url}/v2/app/tags/list").text
    reg.create_repo("app")
    assert http.post(f"{reg.url}/v2/app/blobs/uploads/").status_code == 202


def test_max_depth_makes_deeper_names_unknown(reg, http):
    _with(reg, max_depth=2)
    deep = http.get(f"{reg.url}/v2/a/b/c/manifests/v1", headers=ACCEPT_ALL)
    assert (deep.status_code, codes(deep)) == (404, ["NAME_UNKNOWN"])
    shallow = http.get(f"{reg.url}/v2/a/b/manifests/v1", headers=ACCEPT_ALL)
    assert codes(shallow) == ["MANIFEST_UNKNOWN"]


def test_token_max_depth_grants_nothing_on_deep_paths(bearer_reg, http):
    reg = bearer_reg
    _with(reg, token_max_depth=3)
    for repo, expected in (("g/p/app", 202), ("g/p/a/app", 401)):
        token = token_for(http, reg, f"repository:{repo}:pull,push").json()["token"]
        post = http.post(f"{reg.url}/v2/{repo}/blobs/uploads/", headers=with_token(token))
        assert post.status_code == expected
    assert 'error="insufficient_scope"' in post.headers["WWW-Authenticate"]


def test_strict_list_children_refuses_a_docker_list_of_oci_images(reg, http):
    child = reg.seed_image("app", "linux/amd64", media="oci")
    mixed = make_list([child], media="docker")
    assert put_manifest(http, reg, "app", "v1", mixed.data, DOCKER_LIST).status_code == 201
    _with(reg, strict_list_children=True)
    refused = put_manifest(http, reg, "app", "v2", mixed.data, DOCKER_LIST)
    assert (refused.status_code, codes(refused)) == (400, ["MANIFEST_INVALID"])
    assert "is not one of" in refused.json()["errors"][0]["detail"]


def test_oci_disabled_answers_415(reg, http):
    image = make_image("linux/amd64", media="oci")
    _with(reg, oci_disabled=True)
    refused = push_image(http, reg, "app", image)
    assert (refused.status_code, codes(refused)) == (415, ["MANIFEST_INVALID"])


def test_docker_types_refused_like_zot(reg, http):
    image = make_image("linux/amd64")
    assert push_image(http, reg, "app", image).status_code == 201
    _with(reg, docker_types_refused=True)
    refused = put_manifest(http, reg, "app", "v1", image.manifest.data, DOCKER_MANIFEST)
    assert (refused.status_code, codes(refused)) == (400, ["MANIFEST_INVALID"])
    assert push_image(http, reg, "app", make_image("linux/amd64", "oci")).status_code == 201


def test_missing_child_code_quay_says_manifest_invalid(reg, http):
    reg.personality = PERSONALITIES["quay"]
    listed = make_list([make_image("linux/amd64")])
    refused = put_manifest(http, reg, "app", "v1", listed.data, DOCKER_LIST)
    assert (refused.status_code, codes(refused)) == (400, ["MANIFEST_INVALID"])
    _with(reg, missing_child_code="MANIFEST_BLOB_UNKNOWN")
    assert codes(put_manifest(http, reg, "app", "v1", listed.data, DOCKER_LIST)) == [
        "MANIFEST_BLOB_UNKNOWN"
    ]


def test_flaky_list_puts_fail_just_after_a_child_put(reg, http):
    _with(reg, flaky_list_puts=2)
    image = make_image("linux/amd64")
    assert push_image(http, reg, "app", image).status_code == 201
    listed = make_list([image])
    statuses = [
        put_manifest(http, reg, "app", "v1", listed.data, DOCKER_LIST).status_code for _ in range(3)
    ]
    assert statuses == [400, 400, 201]
    assert reg.count("PUT", r"/manifests/v1$", status=400) == 2


def test_mount_mode_never_and_referenced_only(reg, http):
    image = reg.seed_image("base", "linux/amd64")
    loose = reg.put_blob("base", b"not in any manifest")

    def mount(digest: str) -> int:
        params = {"mount": digest, "from": "base"}
        return http.post(f"{reg.url}/v2/app/blobs/uploads/", params=params).status_code

    _with(reg, mount_mode="never")
    assert mount(image.layer.digest) == 202
    _with(reg, mount_mode="referenced_only")
    assert (mount(image.layer.digest), mount(loose)) == (201, 202)


def test_mount_from_a_missing_project_is_401(reg, http):
    params = {"mount": sha256_digest(b"x"), "from": "nope/base"}
    assert http.post(f"{reg.url}/v2/app/blobs/uploads/", params=params).status_code == 202
    _with(reg, mount_from_missing_401=True)
    refused = http.post(f"{reg.url}/v2/app/blobs/uploads/", params=params)
    assert refused.status_code == 401 and "project nope not found" in refused.text


def test_token_last_scope_only_breaks_mounts(bearer_reg, http):
    reg = bearer_reg
    digest = reg.put_blob("base", b"layer")
    scopes = ("repository:app:pull,push", "repository:base:pull")
    params = {"mount": digest, "from": "base"}
    for last_only, expected in ((False, 201), (True, 401)):
        _with(reg, token_last_scope_only=last_only)
        token = token_for(http, reg, *scopes).json()["token"]
        post = http.post(
            f"{reg.url}/v2/app/blobs/uploads/", params=params, headers=with_token(token)
        )
        assert post.status_code == expected


@pytest.mark.parametrize(
    ("style", "status", "check"),
    [
        ("hub_pull", 429, lambda r: r.headers["ratelimit-remaining"] == "0;w=21600"),
        (
            "hub_abuse",
            429,
            lambda r: (r.text, r.headers["Retry-After"]) == ("Too Many Requests (HAP429).\n", "60"),
        ),
        ("ghcr", 429, lambda r: "retry-after: 12.5ms" in r.text and "Retry-After" not in r.headers),
        ("ghcr_secondary", 403, lambda r: "secondary rate limit" in r.text),
    ],
)
def test_rate_limit_styles_after_the_allowance(reg, http, style, status, check):
    reg.seed_image("app", "linux/amd64", tag="v1")
    _with(reg, rate_limit=style, rate_limit_after=1)
    url = f"{reg.url}/v2/app/manifests/v1"
    assert http.get(url, headers=ACCEPT_ALL).status_code == 200
    if style == "hub_pull":  # only manifest GETs spend the pull quota
        assert http.head(url, headers=ACCEPT_ALL).status_code == 200
    limited = http.get(url, headers=ACCEPT_ALL)
    assert limited.status_code == status and check(limited)


def test_hub_ratelimit_headers_count_manifest_gets_not_heads(reg, http):
    reg.seed_image("app", "linux/amd64", tag="v1")
    url = f"{reg.url}/v2/app/manifests/v1"
    assert "ratelimit-remaining" not in http.get(url, headers=ACCEPT_ALL).headers
    _with(reg, hub_ratelimit_headers=True)
    assert http.get(url, headers=ACCEPT_ALL).headers["ratelimit-remaining"] == "99;w=21600"
    assert http.head(url, headers=ACCEPT_ALL).headers["ratelimit-remaining"] == "99;w=21600"
    assert http.get(url, headers=ACCEPT_ALL).headers["ratelimit-limit"] == "100;w=21600"


def test_put_rate_per_second_answers_429_without_retry_after(reg, http):
    _with(reg, put_rate_per_second=2)
    image = reg.seed_image("app", "linux/amd64")
    responses = [
        put_manifest(http, reg, "app", f"t{i}", image.manifest.data, DOCKER_MANIFEST)
        for i in range(3)
    ]
    assert [r.status_code for r in responses] == [201, 201, 429]
    assert codes(responses[2]) == ["TOOMANYREQUESTS"] and "Retry-After" not in responses[2].headers


def test_tokens_expire_after_uses_or_seconds(bearer_reg, http):
    reg = bearer_reg
    _with(reg, token_max_uses=2)
    token = token_for(http, reg, "repository:app:pull").json()["token"]
    url = f"{reg.url}/v2/app/tags/list"
    statuses = [http.get(url, headers=with_token(token)).status_code for _ in range(3)]
    assert statuses == [404, 404, 401]
    expired = http.get(url, headers=with_token(token))
    assert "Your authorization token has expired" in expired.text
    _with(reg, token_max_uses=None, token_ttl=0.05)
    token = token_for(http, reg, "repository:app:pull").json()["token"]
    assert http.get(url, headers=with_token(token)).status_code == 404
    time.sleep(0.1)
    assert http.get(url, headers=with_token(token)).status_code == 401


def test_digest_header_left_off_get_and_head(reg, http):
    reg.seed_image("app", "linux/amd64", tag="v1")
    url = f"{reg.url}/v2/app/manifests/v1"
    _with(reg, digest_on_get=False)
    assert "Docker-Content-Digest" not in http.get(url, headers=ACCEPT_ALL).headers
    assert "Docker-Content-Digest" in http.head(url, headers=ACCEPT_ALL).headers
    _with(reg, digest_on_head=False)
    assert "Docker-Content-Digest" not in http.head(url, headers=ACCEPT_ALL).headers


def test_negotiate_accept_off_serves_the_stored_document(reg, http):
    index = reg.seed_list("app", "v1", [reg.seed_image("app", "linux/amd64", media="oci")], "oci")
    narrow = {"Accept": DOCKER_MANIFEST}
    assert http.get(f"{reg.url}/v2/app/manifests/v1", headers=narrow).status_code == 404
    _with(reg, negotiate_accept=False)
    served = http.get(f"{reg.url}/v2/app/manifests/v1", headers=narrow)
    assert served.headers["Docker-Content-Digest"] == index
    assert served.headers["Content-Type"] == OCI_INDEX


def test_strict_accept_blobs_and_status_error_bodies(reg, http):
    digest = reg.put_blob("app", b"layer")
    url = f"{reg.url}/v2/app/blobs/{digest}"
    assert http.get(url, headers={"Accept": OCI_MANIFEST}).status_code == 200
    _with(reg, strict_accept_blobs=True)
    refused = http.get(url, headers={"Accept": OCI_MANIFEST})
    assert (refused.status_code, codes(refused)) == (406, ["NOT_ACCEPTABLE"])
    assert http.get(url, headers={"Accept": "*/*"}).status_code == 200
    _with(reg, status_error_bodies=True)
    shaped = http.get(url, headers={"Accept": OCI_MANIFEST}).json()["errors"][0]
    assert shaped["status"] == 406 and "code" not in shaped


def test_blob_redirect_to_a_presigned_host_that_refuses_authorization(reg, http):
    digest = reg.put_blob("app", b"layer bytes")
    _with(reg, blob_redirect=True)
    redirect = http.get(f"{reg.url}/v2/app/blobs/{digest}", allow_redirects=False)
    assert redirect.status_code == 307
    location = redirect.headers["Location"]
    assert not location.startswith(reg.url)
    forwarded = http.get(location, headers={"Authorization": "Bearer leaked"})
    assert forwarded.status_code == 400 and b"InvalidArgument" in forwarded.content
    assert http.get(location).content == b"layer bytes"
    assert http.get(f"{reg.url}/v2/app/blobs/{digest}", auth=("u", "pw")).content == b"layer bytes"
    _with(reg, presign_ttl=0.05)
    time.sleep(0.1)
    assert http.get(location).status_code == 403
    assert reg.presign_log.count("GET", status=403) == 1


def test_ecr_chunks_answer_201_and_freeze_the_range(reg, http):
    _with(reg, ecr_chunks=True)
    location = http.post(f"{reg.url}/v2/app/blobs/uploads/").headers["Location"]
    first = http.patch(location, data=b"abcd")
    second = http.patch(first.headers["Location"], data=b"efgh")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Range"] == "0-3"


def test_bare_content_range_refuses_the_bytes_prefix(reg, http):
    location = http.post(f"{reg.url}/v2/app/blobs/uploads/").headers["Location"]
    assert http.patch(location, data=b"ab", headers={"Content-Range": "bytes 0-1"}).ok
    _with(reg, bare_content_range=True)
    refused = http.patch(location, data=b"cd", headers={"Content-Range": "bytes 2-3"})
    assert (refused.status_code, refused.headers["Range"]) == (416, "0-1")
    assert http.patch(location, data=b"cd", headers={"Content-Range": "2-3"}).status_code == 202


def test_manifest_size_limit_and_its_status(reg, http):
    image = reg.seed_image("app", "linux/amd64")
    _with(reg, max_manifest_bytes=100)
    big = put_manifest(http, reg, "app", "v1", image.manifest.data, DOCKER_MANIFEST)
    assert (big.status_code, codes(big)) == (400, ["MANIFEST_INVALID"])
    _with(reg, oversize_status_413=True)
    assert (
        put_manifest(http, reg, "app", "v1", image.manifest.data, DOCKER_MANIFEST).status_code
        == 413
    )


def _with_subject(image: FakeImage, subject: str) -> bytes:
    doc = json.loads(image.manifest.data)
    doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    return json.dumps(doc).encode()


def test_subject_must_exist(reg, http):
    image = reg.seed_image("app", "linux/amd64", media="oci")
    absent = sha256_digest(b"absent subject")
    referrer = _with_subject(image, absent)
    _with(reg, subject_must_exist=True)
    refused = put_manifest(http, reg, "app", sha256_digest(referrer), referrer, OCI_MANIFEST)
    assert (refused.status_code, codes(refused)) == (400, ["MANIFEST_BLOB_UNKNOWN"])
    assert absent in refused.json()["errors"][0]["message"]
    _with(reg, subject_must_exist=False)
    assert (
        put_manifest(http, reg, "app", sha256_digest(referrer), referrer, OCI_MANIFEST).status_code
        == 201
    )


def test_config_media_types_allowlist(reg, http):
    image = reg.seed_image("app", "linux/amd64", media="oci")
    doc = json.loads(image.manifest.data)
    doc["config"]["mediaType"] = "application/vnd.example.config+json"
    odd = json.dumps(doc).encode()
    reg.personality = PERSONALITIES["gitlab"]
    refused = put_manifest(http, reg, "app", "v1", odd, OCI_MANIFEST)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == (
        "unknown media type: application/vnd.example.config+json"
    )
    _with(reg, config_media_types=None)
    assert put_manifest(http, reg, "app", "v1", odd, OCI_MANIFEST).status_code == 201


def test_referrers_api_lists_manifests_naming_a_subject(reg, http):
    image = reg.seed_image("app", "linux/amd64", media="oci")
    referrer = _with_subject(image, image.digest)
    reg.put_manifest("app", sha256_digest(referrer), referrer, OCI_MANIFEST)
    url = f"{reg.url}/v2/app/referrers/{image.digest}"
    assert http.get(url).status_code == 404
    _with(reg, referrers_api=True)
    listed = http.get(url).json()["manifests"]
    assert [m["digest"] for m in listed] == [sha256_digest(referrer)]


def test_bearer_only_answers_basic_with_denied(bearer_reg, http):
    reg = bearer_reg
    assert http.get(f"{reg.url}/v2/app/tags/list", auth=("u", "pw")).status_code == 401
    _with(reg, bearer_only=True)
    refused = http.get(f"{reg.url}/v2/app/tags/list", auth=("u", "pw"))
    assert refused.status_code == 403
    assert refused.json()["errors"][0] == {
        "code": "DENIED",
        "message": "Your Authorization Token is invalid.",
    }


def test_access_token_only_and_token_post_401(bearer_reg, http):
    reg = bearer_reg
    assert set(token_for(http, reg, "repository:app:pull").json()) >= {"token", "access_token"}
    _with(reg, access_token_only=True)
    answer = token_for(http, reg, "repository:app:pull").json()
    assert "token" not in answer and answer["access_token"]
    form = {
        "grant_type": "password",
        "username": "u",
        "password": "pw",
        "service": "fakereg",
        "scope": "repository:app:pull",
    }
    assert http.post(f"{reg.url}/token", data=form).status_code == 200
    _with(reg, token_post_401=True)
    assert http.post(f"{reg.url}/token", data=form).status_code == 401


def test_refresh_token_user_logs_in_over_post_only(bearer_reg, http):
    reg = bearer_reg
    refresh = reg.refresh_token("u")
    form = {
        "grant_type": "password",
        "username": ZERO_UUID_USER,
        "password": refresh,
        "service": "fakereg",
        "scope": "repository:app:pull",
    }
    assert http.post(f"{reg.url}/token", data=form).status_code == 401
    _with(reg, refresh_token_user=True)
    assert http.post(f"{reg.url}/token", data=form).status_code == 200
    assert (
        token_for(http, reg, "repository:app:pull", user=(ZERO_UUID_USER, refresh)).status_code
        == 401
    )
    grant = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "fakereg"}
    assert http.post(f"{reg.url}/token", data=grant).json()["access_token"]


def test_drop_push_for_downscopes_silently(bearer_reg, http):
    reg = bearer_reg
    _with(reg, drop_push_for=frozenset({"quay-robot"}))
    for user, expected in (("u", 202), ("quay-robot", 401)):
        answer = token_for(http, reg, "repository:app:pull,push", user=(user, "pw"))
        assert answer.status_code == 200
        post = http.post(
            f"{reg.url}/v2/app/blobs/uploads/", headers=with_token(answer.json()["token"])
        )
        assert post.status_code == expected


def test_new_repos_private_refuses_anonymous_tokens(bearer_reg, http):
    reg = bearer_reg
    reg.seed_image("seeded", "linux/amd64")
    token = token_for(http, reg, "repository:pushed:pull,push").json()["token"]
    assert (
        http.post(f"{reg.url}/v2/pushed/blobs/uploads/", headers=with_token(token)).status_code
        == 202
    )
    assert token_for(http, reg, "repository:pushed:pull", user=None).status_code == 200
    _with(reg, new_repos_private=True)
    assert token_for(http, reg, "repository:pushed:pull", user=None).status_code == 401
    assert token_for(http, reg, "repository:seeded:pull", user=None).status_code == 200
    assert token_for(http, reg, "repository:pushed:pull").status_code == 200


def test_tag_type_lock_refuses_a_media_type_change(reg, http):
    reg.seed_image("app", "linux/amd64", tag="v1")
    oci = reg.seed_image("app", "linux/amd64", media="oci")
    _with(reg, tag_type_lock=True)
    refused = put_manifest(http, reg, "app", "v1", oci.manifest.data, OCI_MANIFEST)
    assert (refused.status_code, codes(refused)) == (400, ["MANIFEST_INVALID"])
    _with(reg, tag_type_lock=False)
    assert put_manifest(http, reg, "app", "v1", oci.manifest.data, OCI_MANIFEST).status_code == 201


def test_actions_combine_with_plus(reg, http):
    reg.script(("POST", r"/blobs/uploads/"), delay(0.02) + lose_reply())
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        http.post(f"{reg.url}/v2/app/blobs/uploads/")
    assert time.monotonic() - started >= 0.02
    assert reg.uploads_open() == 1  # handled, then the reply was lost
