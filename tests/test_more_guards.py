"""More answers pinned after a mutation run (scripts/mutation.sh): whole messages of the
model and the store, a list's exact bytes, options reaching a push from disk, a refused
list type with nothing lossless to fall back on, duplicate tags, token error messages."""

from __future__ import annotations

import json

import pytest
from fakereg import AuthConfig, FakeRegistry, fail, respond
from fakereg.images import OCI_INDEX
from logichelpers import entry_of, fake_client, ref, served_list
from test_logic_details import FIXTURES, Recorder
from test_store import LIST, LIST_DIR, REGISTRY, manifest_bytes, write_docker_file

from manifestor.errors import (
    AuthError,
    InvalidReferenceError,
    ManifestInvalidError,
    StoreError,
    TagMovedError,
    UsageError,
)
from manifestor.local.store import ManifestStore, StoredEntry
from manifestor.model.entries import build_list, check_entries, choose_media_type, list_document
from manifestor.model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
    parse_manifest,
)
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.publish import push_list
from manifestor.ops.release import ReleaseOptions, publish_release

# -- reference and list messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty reference"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings; use NAME@sha256:<hex> instead"),
        ("r.example/app@", "empty digest after '@'"),
        (
            "r.example/app@sha1:" + "a" * 40,
            'unsupported digest algorithm "sha1" (supported: sha256, sha384, sha512)',
        ),
        (
            "[::1/app",
            'domain "[::1" is not a valid host[:port] (dot-separated labels of letters, digits '
            "and inner hyphens, or an IPv6 address in brackets)",
        ),
    ],
)
def test_reference_messages(text, problem):
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference(text)
    assert str(caught.value) == f"invalid reference {json.dumps(text)}: {problem}"


def _descriptor(annotations=None) -> Descriptor:
    raw = manifest_bytes("amd64")
    return parse_manifest(raw).descriptor(Platform("linux", "amd64"))


def test_a_list_is_written_byte_for_byte_as_docker_writes_it():
    d = _descriptor()
    listed = build_list([d], DOCKER_LIST)
    assert listed.raw.decode() == (
        "{\n"
        '   "schemaVersion": 2,\n'
        f'   "mediaType": "{DOCKER_LIST}",\n'
        '   "manifests": [\n'
        "      {\n"
        f'         "mediaType": "{DOCKER_MANIFEST}",\n'
        f'         "size": {d.size},\n'
        f'         "digest": "{d.digest}",\n'
        '         "platform": {\n'
        '            "architecture": "amd64",\n'
        '            "os": "linux"\n'
        "         }\n"
        "      }\n"
        "   ]\n"
        "}"
    )


def test_list_messages_and_the_format_asked_for():
    with pytest.raises(UsageError) as caught:
        check_entries([])
    assert str(caught.value) == "the list has no entries"
    with pytest.raises(UsageError) as caught:
        choose_media_type([_descriptor()], "docker", {"a": "b"})
    assert str(caught.value) == (
        "a Docker manifest list cannot carry annotations; use --format oci"
    )
    assert list_document([_descriptor()], "oci").media_type == OCI_INDEX


# -- store ------------------------------------------------------------------------------------


def test_storing_an_entry_whose_descriptor_type_is_wrong_says_both(tmp_path):
    raw = manifest_bytes("amd64")
    good = parse_manifest(raw).descriptor(Platform("linux", "amd64"))
    wrong = Descriptor(OCI_MANIFEST, good.digest, good.size, good.platform)
    entry = StoredEntry(f"{REGISTRY}/app:1-amd64", wrong, raw)
    with pytest.raises(StoreError) as caught:
        ManifestStore(tmp_path).save(LIST, [entry], replace=False)
    assert str(caught.value) == (
        f"cannot store {entry.ref}: the descriptor says {OCI_MANIFEST} but the manifest is "
        f"{DOCKER_MANIFEST}"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"Ref": "127.0.0.1:5056/app:x"}', '"Descriptor" is missing or not an object'),
        (b'{"Ref": "\xff"}', "not UTF-8 text"),
    ],
)
def test_unreadable_entries_say_why(tmp_path, content, reason):
    store = ManifestStore(tmp_path)
    write_docker_file(store, LIST_DIR, "127.0.0.1-5056_app-x", content)
    (summary,) = store.summaries()
    assert summary.corrupt == f"127.0.0.1-5056_app-x: {reason}"


def test_a_non_file_in_a_list_directory_is_reported(tmp_path):
    store = ManifestStore(tmp_path)
    (store.root / LIST_DIR / "sub").mkdir(parents=True)
    (summary,) = store.summaries()
    assert summary.corrupt == "sub: not a regular file; docker reads every file here as an entry"


def test_a_legacy_entry_whose_payload_comes_first_is_read_exactly(tmp_path):
    store = ManifestStore(tmp_path)
    payload = manifest_bytes("amd64", indent=None)
    from manifestor.model.oci import sha256_digest

    body = (
        b'{"SchemaV2Manifest":'
        + payload
        + f',"Ref":"{REGISTRY}/app:1-amd64","Digest":"{sha256_digest(payload)}"}}'.encode()
    )
    write_docker_file(store, LIST_DIR, "127.0.0.1-5056_app-1-amd64", body)
    (entry,) = store.get(LIST).entries
    assert entry.raw == payload


# -- publish ----------------------------------------------------------------------------------


def test_a_push_from_disk_reports_progress_and_uploads_whole_blobs(fake, client):
    progress = Recorder()
    release = Release(
        ref(fake, "team/app:1.0"), (SourceSpec(f"oci:{FIXTURES / 'linux-arm64-v8'}"),)
    )

    publish_release(client, release, ReleaseOptions(), progress=progress)

    starts = [e for e in progress.events if e[0] == "start"]
    finishes = [e for e in progress.events if e[0] == "finish"]
    assert len(starts) == 2 and sorted(f[1] for f in finishes) == sorted(s[1] for s in starts)
    last = {e[1]: e[2] for e in progress.events if e[0] == "update"}
    assert {s[1]: s[2] for s in starts} == last  # every byte of every blob was counted
    (child,) = served_list(fake, "team/app", "1.0")["manifests"]
    assert fake.get_manifest("team/app", child["digest"]) is not None


def test_annotated_entries_have_no_docker_fallback_when_the_index_is_refused(fake, client):
    image = fake.seed_image("team/app", "linux/amd64")
    entry = entry_of(fake, "team/app", image)
    from dataclasses import replace

    annotated = replace(entry, annotations={"org.example": "x"})
    fake.script(("PUT", r"/manifests/1\.0$"), fail(400, "MANIFEST_INVALID", "no index here"))

    with pytest.raises(ManifestInvalidError):
        push_list(client, ref(fake, "team/app:1.0"), [annotated])

    assert fake.count("PUT", r"/manifests/1\.0$") == 1


def test_a_tag_that_vanished_is_reported_as_no_tag(fake, client):
    image = fake.seed_image("team/app", "linux/amd64")
    with pytest.raises(TagMovedError) as caught:
        push_list(
            client,
            ref(fake, "team/app:1.0"),
            [entry_of(fake, "team/app", image)],
            expect_current="sha256:" + "1" * 64,
        )
    assert str(caught.value) == (
        f"{fake.host}/team/app:1.0 changed while this push was being prepared "
        f"(expected sha256:{'1' * 64}, found no tag)"
    )


def test_release_source_annotations_and_repeated_tags(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    release = Release(
        ref(fake, "team/app:1.0"),
        (SourceSpec(f"{fake.host}/team/app:amd64", annotations={"k": "v"}),),
        tags=("1.0", "latest", "latest"),
    )

    result = publish_release(client, release, ReleaseOptions())

    (child,) = served_list(fake, "team/app", "1.0")["manifests"]
    assert child["annotations"] == {"k": "v"}
    assert [str(t) for t in result.tags] == [
        f"{fake.host}/team/app:1.0",
        f"{fake.host}/team/app:latest",
    ]
    assert fake.count("PUT", r"/manifests/(1\.0|latest)$") == 2


# -- token error messages -----------------------------------------------------------------------


def test_token_errors_name_the_realm(tmp_path):
    auth = AuthConfig("bearer", {"alice": "alice-pw"}, {"alice": [("*", ["pull"])]})
    with FakeRegistry(auth=auth) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        fake.script(("GET", r"^/token$"), respond(500, "down"), times=None)
        with fake_client(tmp_path, username="alice", password="alice-pw") as client:
            with pytest.raises(AuthError) as caught:
                client.get_manifest(ref(fake, "team/app:1.0"))
        assert str(caught.value) == f"token server {fake.url}/token answered HTTP 500"


def _seed_windows(fake: FakeRegistry, repo: str, tag: str) -> str:
    """A windows/amd64 image whose config records os.version and os.features."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "windows",
            "os.version": "10.0.20348.1000",
            "os.features": ["win32k"],
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    layer = b"windows layer"
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": fake.put_blob(repo, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": fake.put_blob(repo, layer),
                "size": len(layer),
            }
        ],
    }
    return fake.put_manifest(repo, tag, json.dumps(manifest).encode(), DOCKER_MANIFEST)


def test_a_stated_platform_keeps_the_os_version_and_features_of_the_image(fake, client):
    _seed_windows(fake, "team/app", "win")
    release = Release(
        ref(fake, "team/app:1.0"),
        (SourceSpec(f"{fake.host}/team/app:win", Platform("windows", "amd64")),),
    )

    publish_release(client, release, ReleaseOptions())

    (child,) = served_list(fake, "team/app", "1.0")["manifests"]
    assert child["platform"] == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.1000",
        "os.features": ["win32k"],
    }


@pytest.mark.usefixtures("upsert_waits")  # the settle wait recorded, not slept
def test_release_upsert_honours_the_format_asked_for(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    release = Release(ref(fake, "team/app:1.0"), (SourceSpec(f"{fake.host}/team/app:amd64"),))
    result = publish_release(client, release, ReleaseOptions(list_format="oci", upsert=True))
    assert result.media_type == OCI_INDEX == served_list(fake, "team/app", "1.0")["mediaType"]


@pytest.mark.parametrize("list_format", ["auto", "oci"])
def test_an_unchanged_annotated_release_is_found_by_heads_alone(fake, client, list_format):
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    release = Release(
        ref(fake, "team/app:1.0"),
        (SourceSpec(f"{fake.host}/team/app:amd64"),),
        annotations={"a": "b"},
    )
    publish_release(client, release, ReleaseOptions(list_format=list_format))
    fake.log.clear()

    again = publish_release(client, release, ReleaseOptions(list_format=list_format))

    assert again.unchanged
    assert fake.count("GET", r"/blobs/") == 0 and fake.count("PUT") == 0


# -- sample 2's survivors ---------------------------------------------------------------------


def test_an_entry_order_that_is_not_an_integer_is_reported(tmp_path):
    store = ManifestStore(tmp_path)
    raw = manifest_bytes("amd64")
    entry = StoredEntry(
        f"{REGISTRY}/app:1-amd64", parse_manifest(raw).descriptor(Platform("linux", "amd64")), raw
    )
    store.save(LIST, [entry], replace=False)
    path = store.root / LIST_DIR / "127.0.0.1-5056_app-1-amd64"
    body = json.loads(path.read_bytes())
    body["manifestorOrder"] = "first"
    path.write_text(json.dumps(body))
    (summary,) = store.summaries()
    assert summary.corrupt == '127.0.0.1-5056_app-1-amd64: "manifestorOrder" is not an integer'


def test_a_list_path_that_is_a_file_is_corrupt(tmp_path):
    store = ManifestStore(tmp_path)
    store.root.mkdir(parents=True)
    (store.root / LIST_DIR).write_text("x")
    from manifestor.errors import CorruptListError

    with pytest.raises(CorruptListError) as caught:
        store.get(LIST)
    assert str(caught.value) == (
        f"manifest list {LIST} is corrupt: {store.root / LIST_DIR} is not a directory"
    )


def test_a_store_name_of_exactly_255_bytes_is_accepted():
    from manifestor.local.store import docker_store_name

    name = "r.example/" + "a" * (255 - len("r.example_"))
    assert len(docker_store_name(name).encode()) == 255
    with pytest.raises(StoreError):
        docker_store_name(name + "a")


def test_an_index_with_annotations_has_no_docker_fallback(fake, client):
    image = fake.seed_image("team/app", "linux/amd64")
    fake.script(("PUT", r"/manifests/1\.0$"), fail(400, "MANIFEST_INVALID", "no index here"))
    with pytest.raises(ManifestInvalidError):
        push_list(
            client,
            ref(fake, "team/app:1.0"),
            [entry_of(fake, "team/app", image)],
            annotations={"org.example": "x"},
        )
    assert fake.count("PUT", r"/manifests/1\.0$") == 1


def test_an_unchanged_push_names_its_target(fake, client):
    image = fake.seed_image("team/app", "linux/amd64")
    entries = [entry_of(fake, "team/app", image)]
    push_list(client, ref(fake, "team/app:1.0"), entries)
    again = push_list(client, ref(fake, "team/app:1.0"), entries)
    assert again.unchanged and again.target == ref(fake, "team/app:1.0")


def test_token_params_are_read_past_base64_padding():
    from manifestor.remote.auth import parse_challenges

    for padded in ("abc=", "abc=="):
        (challenge,) = parse_challenges([f"Bearer realm={padded}, service=x"])
        assert dict(challenge.params) == {"realm": padded, "service": "x"}


def test_a_challenge_without_service_sends_none(tmp_path):
    from manifestor.local.keychain import Credential
    from manifestor.remote.auth import Authenticator, Challenge, TokenCache, repository_scope
    from manifestor.remote.transport import Transport

    auth_config = AuthConfig("bearer", {"alice": "alice-pw"}, {"alice": [("*", ["pull"])]})
    with FakeRegistry(auth=auth_config) as fake:
        transport = Transport()
        try:
            Authenticator(
                transport,
                fake.url,
                Challenge("bearer", {"realm": f"{fake.url}/token"}),
                Credential("alice", "alice-pw"),
                TokenCache(),
            ).authorization([repository_scope("team/app", "pull")])
        finally:
            transport.close()
        (fetch,) = fake.log.select("GET", r"^/token$")
    assert "service" not in fetch.query


def test_refused_credentials_say_what_to_check(tmp_path):
    auth_config = AuthConfig("bearer", {"alice": "alice-pw"}, {"alice": [("*", ["pull"])]})
    with FakeRegistry(auth=auth_config) as fake:
        with fake_client(tmp_path, username="alice", password="wrong") as client:
            with pytest.raises(AuthError) as caught:
                client.get_manifest(ref(fake, "team/app:1.0"))
        assert str(caught.value) == (
            f"token server {fake.url}/token rejected the credentials for {fake.host} (HTTP 401); "
            "check the username and password"
        )


def test_a_retry_is_logged_with_its_status(fake, caplog):
    import logging

    from manifestor.remote.retry import RetryPolicy
    from manifestor.remote.transport import Transport

    fake.script(("GET", r"^/v2/$"), respond(503, "x"))
    transport = Transport(retry=RetryPolicy(attempts=2, backoff=0.0), sleep=lambda s: None)
    with caplog.at_level(logging.DEBUG, logger="manifestor.http"):
        transport.request("GET", f"{fake.url}/v2/")
    transport.close()
    assert any(
        r.getMessage().startswith("retrying after HTTP 503 (attempt 1)") for r in caplog.records
    )
