"""A broken or hostile registry, scripted with the in-process fake: every answer below ends
in one of manifestor's own one-line errors, or in success where success is possible (a
lost reply, a drip-fed reply), and no run outlasts its limits by more than a moment."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fakereg import (
    AuthConfig,
    FakeRegistry,
    delay,
    drip,
    fail,
    lose_reply,
    make_image,
    respond,
)

from manifestor.errors import (
    AuthError,
    DeadlineError,
    MalformedResponseError,
    ManifestFormatError,
    ManifestorError,
    SourceContentError,
    TooManyRequestsError,
    UnavailableError,
)
from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.reference import parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.deadline import Deadline
from manifestor.remote.retry import RetryPolicy

# Short limits so each hostile answer is cut off in about a second.
QUICK = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, budget=5.0, request_limit=1.0)
# For the tests that wait for an exchange's limit to run out: half a second is still a
# hundred times what a loopback exchange with the in-process registry takes.
IMPATIENT = replace(QUICK, request_limit=0.5)


@pytest.fixture
def reg() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RegistryClient]:
    keychain = Keychain(tmp_path / "no-docker-config", environ={})
    with RegistryClient(keychain=keychain, retry=QUICK) as anonymous:
        yield anonymous


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[RegistryClient]:
    keychain = Keychain(tmp_path / "no-docker-config", environ={})
    with RegistryClient(keychain=keychain, retry=IMPATIENT) as anonymous:
        yield anonymous


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert isinstance(error, ManifestorError)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def _manifest_with(**changes: object) -> bytes:
    image = make_image("linux/amd64")
    body = json.loads(image.manifest.data)
    body["layers"][0].update(changes)
    return json.dumps(body).encode()


def _manifest_with_literal(key: str, literal: str) -> bytes:
    """A manifest whose layer `key` is the JSON text `literal`, exactly as written."""
    return _manifest_with(**{key: "@@"}).replace(b'"@@"', literal.encode())


# -- bodies that are not what they claim ---------------------------------------------------


def test_manifest_bytes_that_are_not_utf8_are_a_format_error(reg, client):
    reg.script(("GET", r"/manifests/"), respond(200, b'{"schemaVersion": 2, "x": "\xff"}'))
    with pytest.raises(ManifestFormatError) as caught:
        client.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert "not UTF-8" in _one_line(caught.value)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (_manifest_with(size=1e400), "size must be an integer"),
        (_manifest_with_literal("size", "1e400"), "size must be an integer"),
        (_manifest_with_literal("size", "NaN"), "size must be an integer"),
        (_manifest_with(size=-1), "out of range"),
        (_manifest_with(size=1e30), "size must be an integer"),
        (_manifest_with(size=10**30), "out of range"),
        (_manifest_with(size=True), "size must be an integer"),
        (_manifest_with(urls=5), "urls must be a list"),
        (_manifest_with(annotations="x"), "annotations must be an object"),
        (_manifest_with(annotations={"k": 1}), "must be a string"),
        (_manifest_with(digest="sha256:../../etc"), "invalid digest"),
        (_manifest_with(platform=[]), "platform must be an object"),
        (
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
            b'"manifests":5}',
            "manifests must be a list",
        ),
        (
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
            b'"manifests":[5]}',
            "must be an object",
        ),
        (
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            b'"layers":[]}',
            "needs a config",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"schemaVersion":' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
    ids=lambda value: value[:30].decode() if isinstance(value, bytes) else value,
)
def test_manifests_with_wrong_json_types_are_format_errors(reg, client, raw, says):
    reg.script(("GET", r"/manifests/"), respond(200, raw))
    with pytest.raises(ManifestFormatError) as caught:
        client.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert says in _one_line(caught.value)


# -- headers and URLs ---------------------------------------------------------------------


def test_malformed_upload_location_is_a_malformed_response(reg, client):
    layer = make_image("linux/amd64").layer
    reg.script(("POST", r"/blobs/uploads/"), respond(202, b"", [("Location", "http://[::1/oops")]))
    with pytest.raises(MalformedResponseError) as caught:
        client.upload_blob(
            parse_reference(f"{reg.host}/team/app"), layer.digest, BodySource.of_bytes(layer.data)
        )
    assert "upload Location" in _one_line(caught.value)


def test_malformed_redirect_location_is_a_malformed_response(reg, client):
    reg.script(("GET", r"/manifests/"), respond(307, b"", [("Location", "http://[::1/oops")]))
    with pytest.raises(MalformedResponseError) as caught:
        client.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert "Location" in _one_line(caught.value)


def test_malformed_token_realm_is_an_auth_error(reg, client):
    reg.script(
        ("GET", r"^/v2/$"),
        respond(401, b"", [("WWW-Authenticate", 'Bearer realm="http://[::1/oops",service="x"')]),
    )
    with pytest.raises(AuthError) as caught:
        client.ping(reg.host)
    assert "token realm" in _one_line(caught.value)


@pytest.mark.parametrize("value", ["²", "١٢", "-5", "1e3", "Wed, 99 Foo 2026", "9" * 400])
def test_odd_retry_after_values_fall_back_to_backoff(reg, client, value):
    reg.script(("GET", r"/manifests/"), respond(503, b"", [("Retry-After", value)]), times=1)
    image = reg.seed_image("team/app", "linux/amd64", tag="1")
    started = time.monotonic()
    if value == "9" * 400:  # a wait of 10**400 seconds: more than the budget, said at once
        with pytest.raises(DeadlineError) as caught:
            client.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
        assert "Retry-After" in _one_line(caught.value)
    else:
        assert client.get_manifest(parse_reference(f"{reg.host}/team/app:1")).digest == image.digest
    assert time.monotonic() - started < 2


def test_odd_content_length_and_digest_headers_are_ignored(reg, client):
    image = reg.seed_image("team/app", "linux/amd64", tag="1")
    reg.script(
        ("HEAD", r"/manifests/"),
        respond(
            200,
            b"",
            [("Content-Length", "²"), ("Docker-Content-Digest", "sha256:zz"), ("X", "y")],
        ),
    )
    info = client.head_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert info is not None and info.digest == image.digest  # asked again with a GET


def test_tag_list_with_wrong_types_and_bad_link(reg, client):
    reg.seed_image("team/app", "linux/amd64", tag="1")
    reg.script(("GET", r"/tags/list"), respond(200, b'{"tags": "1"}'))
    with pytest.raises(MalformedResponseError):
        client.list_tags(parse_reference(f"{reg.host}/team/app"))
    reg.script(
        ("GET", r"/tags/list"),
        respond(200, b'{"tags": ["1"]}', [("Link", '<http://[::1/x>; rel="next"')]),
    )
    with pytest.raises(MalformedResponseError):
        client.list_tags(parse_reference(f"{reg.host}/team/app"))


# -- time ---------------------------------------------------------------------------------


def test_server_that_never_answers_is_cut_off_within_the_budget(reg, impatient):
    reg.script(("GET", r"/manifests/"), delay(60), times=None)
    started = time.monotonic()
    with pytest.raises(DeadlineError) as caught:
        impatient.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert "limit; cut off" in _one_line(caught.value)
    assert time.monotonic() - started < IMPATIENT.attempts * IMPATIENT.request_limit + 2


def test_drip_fed_reply_is_cut_off_and_the_retry_succeeds(reg, impatient):
    image = reg.seed_image("team/app", "linux/amd64", tag="1")
    reg.script(("GET", r"/manifests/"), drip(1, 0.1))  # ~60 s for the whole manifest
    started = time.monotonic()
    manifest = impatient.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert manifest.digest == image.digest
    assert reg.count("GET", r"/manifests/") == 2
    assert time.monotonic() - started < IMPATIENT.request_limit + 2


def test_drip_fed_ping_is_cut_off_and_the_retry_succeeds(reg, impatient):
    reg.script(("GET", r"^/v2/$"), respond(200, b"{" + b" " * 200 + b"}") + drip(1, 0.1))
    impatient.ping(reg.host)
    assert reg.count("GET", r"^/v2/$") == 2


def test_retry_after_beyond_the_budget_fails_at_once_saying_how_long(reg, client):
    reg.script((None, r"."), respond(429, b"", [("Retry-After", "3600")]), times=None)
    started = time.monotonic()
    with pytest.raises(DeadlineError) as caught:
        client.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert "asked to wait 3600 s (Retry-After)" in _one_line(caught.value)
    assert time.monotonic() - started < 1
    assert reg.count() == 1


def test_run_deadline_stops_a_run_that_keeps_being_told_to_wait(reg, tmp_path):
    reg.script((None, r"."), respond(503, b"", [("Retry-After", "1")]), times=None)
    keychain = Keychain(tmp_path / "none", environ={})
    patient = RetryPolicy(attempts=100, backoff=0.01, budget=600.0, request_limit=60.0)
    started = time.monotonic()
    # Retry-After: 1 fits the deadline once; the second one does not.
    with RegistryClient(keychain=keychain, retry=patient, deadline=Deadline.after(1.5)) as c:
        with pytest.raises(DeadlineError) as caught:
            c.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
    assert "--timeout" in _one_line(caught.value)
    assert time.monotonic() - started < 4


def test_persistent_503_on_v2_is_named_as_such(reg, client):
    reg.script(("GET", r"^/v2/$"), respond(503, b"", [("Retry-After", "0")]), times=None)
    with pytest.raises(UnavailableError) as caught:
        client.ping(reg.host)
    text = _one_line(caught.value)
    assert f"answered 503 Service Unavailable {QUICK.attempts} times over" in text
    assert "does not look like a registry" not in text


def test_persistent_429_on_v2_is_named_as_such(reg, client):
    reg.script(("GET", r"^/v2/$"), respond(429, b"", [("Retry-After", "0")]), times=None)
    with pytest.raises(TooManyRequestsError) as caught:
        client.ping(reg.host)
    assert f"429 Too Many Requests {QUICK.attempts} times" in _one_line(caught.value)


# -- uploads ------------------------------------------------------------------------------


def _upload(client: RegistryClient, reg: FakeRegistry, data: bytes) -> str:
    from fakereg.wire import sha256_digest

    digest = sha256_digest(data)
    client.upload_blob(parse_reference(f"{reg.host}/team/app"), digest, BodySource.of_bytes(data))
    return digest


def test_lost_reply_to_a_committed_blob_put_is_answered_by_a_head(reg, client):
    reg.script(("PUT", r"/blobs/uploads/"), lose_reply())
    digest = _upload(client, reg, b"layer whose reply is lost")
    assert reg.blob_exists("team/app", digest)
    assert reg.count("PUT", r"/blobs/uploads/") == 1  # never repeated
    assert reg.count("POST", r"/blobs/uploads/") == 1
    assert reg.count("HEAD", rf"/blobs/{digest}") == 1


def test_lost_reply_to_upload_start_starts_a_new_upload(reg, client):
    reg.script(("POST", r"/blobs/uploads/"), lose_reply())
    digest = _upload(client, reg, b"layer whose POST reply is lost")
    assert reg.blob_exists("team/app", digest)
    assert reg.count("POST", r"/blobs/uploads/") == 2
    assert reg.count("HEAD", rf"/blobs/{digest}") == 1


def test_failing_put_cancels_its_session_and_starts_again(reg, client):
    reg.script(("PUT", r"/blobs/uploads/"), fail(503, "UNAVAILABLE", "try later"), times=1)
    digest = _upload(client, reg, b"layer refused once")
    assert reg.blob_exists("team/app", digest)
    assert reg.count("DELETE", r"/blobs/uploads/") == 1
    assert reg.uploads_open() == 0


def test_upload_that_keeps_failing_leaves_no_sessions_and_says_how(reg, client):
    reg.script(("PUT", r"/blobs/uploads/"), fail(500, "UNKNOWN", "disk on fire"), times=None)
    with pytest.raises(UnavailableError) as caught:
        _upload(client, reg, b"layer never accepted")
    assert "disk on fire" in _one_line(caught.value)
    assert reg.count("PUT", r"/blobs/uploads/") == QUICK.attempts
    assert reg.uploads_open() == 0


def test_source_blob_longer_than_its_descriptor_stops_the_copy_blaming_the_source(client):
    image = make_image("linux/amd64")
    with FakeRegistry() as source, FakeRegistry() as target:
        source.put_blob("team/app", image.layer.data)
        source.script(("GET", r"/blobs/"), respond(200, image.layer.data + b"!"), times=None)
        started = time.monotonic()
        with pytest.raises(SourceContentError) as caught:
            client.copy_blob(
                parse_reference(f"{source.host}/team/app"),
                parse_reference(f"{target.host}/team/app"),
                image.layer.digest,
                len(image.layer.data),
            )
        text = _one_line(caught.value)
        assert "sent more than" in text and source.host in text
        assert time.monotonic() - started < 2
        assert not target.blob_exists("team/app", image.layer.digest)
        assert target.uploads_open() == 0


def test_source_blob_with_other_content_is_never_committed(client):
    image = make_image("linux/amd64")
    forged = bytes(len(image.layer.data))
    with FakeRegistry() as source, FakeRegistry() as target:
        source.script(("GET", r"/blobs/"), respond(200, forged), times=None)
        with pytest.raises(SourceContentError) as caught:
            client.copy_blob(
                parse_reference(f"{source.host}/team/app"),
                parse_reference(f"{target.host}/team/app"),
                image.layer.digest,
                len(forged),
            )
        assert "hashes to" in _one_line(caught.value)
        assert target.count("PUT", r"/blobs/uploads/") == 1
        assert not target.blob_exists("team/app", image.layer.digest)
        assert target.uploads_open() == 0


def test_token_server_with_junk_answers(tmp_path):
    auth = AuthConfig("bearer", {"u": "p"}, anonymous=[("*", ["pull"])])
    with FakeRegistry(auth=auth) as reg:
        reg.seed_image("team/app", "linux/amd64", tag="1")
        keychain = Keychain(tmp_path / "none", environ={})
        for junk in (
            b"[" * 50_000,
            b'{"token": 5}',
            b"\xff\xfe",
            b'{"token":"t","expires_in":1e999}',
        ):
            reg.script(("GET", r"^/token"), respond(200, junk))
            with RegistryClient(keychain=keychain, retry=QUICK) as c:
                try:
                    c.get_manifest(parse_reference(f"{reg.host}/team/app:1"))
                except ManifestorError as error:
                    _one_line(error)
