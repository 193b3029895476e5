"""Publish, release, upsert and verify, fast: the workflows against the scripted in-process
registry (tests/fakereg), with the requests they make counted. The budgets below are what
the code makes today (measured 2026-11-30); a change that needs more requests must say why
here. The integration suite proves the same decisions against real registries."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pytest
from fakereg import PERSONALITIES, FakeImage, FakeRegistry, call, fail, make_image
from fakereg.images import DOCKER_LIST, OCI_INDEX
from logichelpers import (
    entry_of,
    other_writer_adds,
    ref,
    seed_list_of,
    served_list,
    served_platforms,
    summary,
    writes,
)

from manifestor.errors import (
    DeniedError,
    ManifestFormatError,
    ManifestInvalidError,
    MissingChildError,
    NotFoundError,
    PlatformMismatchError,
    ReadBackError,
    TagMovedError,
    UsageError,
)
from manifestor.model.entries import (
    ATTESTATION_SUBJECT_KEY,
    ATTESTATION_TYPE_KEY,
    ListEntry,
    SourceFilter,
)
from manifestor.model.oci import parse_manifest
from manifestor.model.platform import Platform, parse_platform
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.publish import push_list
from manifestor.ops.release import ReleaseOptions, plan_release, publish_release
from manifestor.ops.upsert import UpsertPolicy, upsert_list
from manifestor.ops.verify import verify_list
from manifestor.remote.client import RegistryClient

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"]
QUICK = UpsertPolicy(attempts=3, settle=0.0, jitter=0.0)


def tag_of(platform: str) -> str:
    return platform.replace("/", "-")


def seed_sources(registry: FakeRegistry, repo: str, platforms: list[str]) -> list[FakeImage]:
    return [registry.seed_image(repo, p, tag=tag_of(p)) for p in platforms]


def release_of(
    target: FakeRegistry,
    source: FakeRegistry,
    repo: str,
    platforms: list[str],
    tags: tuple[str, ...] = (),
) -> Release:
    sources = tuple(SourceSpec(f"{source.host}/{repo}:{tag_of(p)}") for p in platforms)
    return Release(target=ref(target, "team/app:1.0"), sources=sources, tags=tags)


def by_kind(registry: FakeRegistry) -> Counter:
    """Requests by (method, what): manifests, blobs, the ping or the token endpoint."""
    kinds = Counter()
    for e in registry.log.entries:
        what = "manifest" if "/manifests/" in e.path else "blob" if "/blobs/" in e.path else e.path
        kinds[(e.method, what)] += 1
    return kinds


# -- one-shot releases: request budgets ---------------------------------------------------


@pytest.mark.parametrize("n", [1, 4])
def test_one_shot_release_from_the_target_repository_budget(fake, client, n):
    """Sources already in the target repository: read each (manifest + config), write the
    list under its two tags; the PUT's Docker-Content-Digest proves what was stored, so no
    read-back; no ping (no credentials are configured). 2N + 2T requests for N sources,
    T tags."""
    seed_sources(fake, "team/app", PLATFORMS[:n])
    fake.log.clear()

    result = publish_release(
        client, release_of(fake, fake, "team/app", PLATFORMS[:n], ("latest",)), ReleaseOptions()
    )

    assert by_kind(fake) == Counter(
        {
            ("HEAD", "manifest"): 2,  # the two tags before
            ("GET", "manifest"): n,
            ("GET", "blob"): n,  # configs, for the platforms
            ("PUT", "manifest"): 2,
        }
    ), summary(fake)
    assert len(fake.log.entries) <= 2 * n + 2 * 2
    assert fake.tags("team/app")["1.0"] == fake.tags("team/app")["latest"] == result.digest
    assert served_platforms(fake, "team/app", "1.0") == PLATFORMS[:n]


def test_an_unchanged_release_makes_no_write_and_reads_no_blob(fake, client):
    seed_sources(fake, "team/app", PLATFORMS)
    release = release_of(fake, fake, "team/app", PLATFORMS, ("latest",))
    first = publish_release(client, release, ReleaseOptions())
    fake.log.clear()

    again = publish_release(client, release, ReleaseOptions())

    assert again.unchanged and again.digest == first.digest
    # HEAD both tags, GET the list, HEAD each source: N + 3.
    assert by_kind(fake) == Counter({("HEAD", "manifest"): 4 + 2, ("GET", "manifest"): 1})


def test_a_release_whose_extra_tag_lags_writes_that_tag_only(fake, client):
    seed_sources(fake, "team/app", PLATFORMS[:2])
    release = release_of(fake, fake, "team/app", PLATFORMS[:2], ("latest",))
    first = publish_release(client, release, ReleaseOptions())
    older = make_image("linux/amd64")
    fake.put_manifest("team/app", "latest", older.manifest.data, older.manifest.media_type)
    fake.log.clear()

    again = publish_release(client, release, ReleaseOptions())

    assert not again.unchanged and again.digest == first.digest
    assert [e.path.rsplit("/", 1)[1] for e in writes(fake)] == ["latest"]
    assert fake.tags("team/app")["latest"] == first.digest


def test_release_from_another_repository_mounts_every_blob(fake, client):
    seed_sources(fake, "team/src", PLATFORMS)
    fake.log.clear()

    publish_release(client, release_of(fake, fake, "team/src", PLATFORMS), ReleaseOptions())

    kinds = by_kind(fake)
    assert kinds[("POST", "blob")] == 2 * len(PLATFORMS)  # config + layer, mounted
    assert kinds[("PUT", "blob")] == 0 and kinds[("PATCH", "blob")] == 0
    assert kinds[("GET", "blob")] == len(PLATFORMS)  # configs only: nothing copied
    assert kinds[("PUT", "manifest")] == len(PLATFORMS) + 1
    assert all(e.query.get("mount") for e in fake.log.select("POST"))
    assert len(fake.log.entries) <= 38, summary(fake)


def test_release_from_another_registry_streams_every_blob_once(fake, client):
    with FakeRegistry() as source:
        images = seed_sources(source, "team/src", PLATFORMS)
        source.log.clear()

        publish_release(client, release_of(fake, source, "team/src", PLATFORMS), ReleaseOptions())

        assert by_kind(source) == Counter(
            {("GET", "manifest"): 4, ("GET", "blob"): 4 + 8}
        )
    kinds = by_kind(fake)
    assert kinds[("POST", "blob")] == kinds[("PUT", "blob")] == 2 * len(PLATFORMS)
    assert kinds[("PUT", "manifest")] == len(PLATFORMS) + 1
    assert len(fake.log.entries) <= 38, summary(fake)
    for image in images:
        assert fake.blob_exists("team/app", image.layer.digest)


def test_a_refused_mount_falls_back_to_a_copy(client):
    with FakeRegistry(PERSONALITIES["ecr-public"]) as fake:
        images = seed_sources(fake, "team/src", PLATFORMS[:1])
        publish_release(client, release_of(fake, fake, "team/src", PLATFORMS[:1]), ReleaseOptions())
        assert fake.blob_exists("team/app", images[0].layer.digest)
        assert fake.count("GET", rf"/team/src/blobs/{images[0].layer.digest}") == 1


def test_children_already_in_the_target_are_not_uploaded_again(fake, client):
    seed_sources(fake, "team/src", PLATFORMS[:2])
    for p in PLATFORMS[:2]:
        fake.seed_image("team/app", p)
    fake.log.clear()

    publish_release(client, release_of(fake, fake, "team/src", PLATFORMS[:2]), ReleaseOptions())

    assert [e.path.rsplit("/", 1)[1] for e in writes(fake)] == ["1.0"]


def test_a_dry_run_plan_reads_only(fake, client):
    seed_sources(fake, "team/src", PLATFORMS[:2])
    plan = plan_release(client, release_of(fake, fake, "team/src", PLATFORMS[:2]), ReleaseOptions())
    assert writes(fake) == []
    steps = "\n".join(plan.steps)
    assert steps.count("mount  blob") == 4 and steps.count("put    ") == 3
    assert plan.document.media_type == DOCKER_LIST


# -- release decisions --------------------------------------------------------------------


def test_a_missing_source_is_skipped_only_when_asked(fake, client):
    seed_sources(fake, "team/app", PLATFORMS[:1])
    release = release_of(fake, fake, "team/app", PLATFORMS[:2])
    with pytest.raises(NotFoundError):
        publish_release(client, release, ReleaseOptions())
    assert writes(fake) == []

    notes: list[str] = []
    publish_release(client, release, ReleaseOptions(ignore_missing=True), notify=notes.append)

    assert served_platforms(fake, "team/app", "1.0") == PLATFORMS[:1]
    assert any("skipping missing source" in n and "linux-arm64" in n for n in notes)


def test_a_release_whose_every_source_is_missing_writes_nothing(fake, client):
    with pytest.raises(UsageError, match="every source was skipped"):
        publish_release(
            client,
            release_of(fake, fake, "team/app", PLATFORMS[:2]),
            ReleaseOptions(ignore_missing=True),
        )
    assert writes(fake) == []


def test_a_stated_platform_the_config_contradicts_is_refused_before_any_write(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="arm64")  # built on the wrong host
    release = Release(
        ref(fake, "team/app:1.0"),
        (SourceSpec(f"{fake.host}/team/app:arm64", parse_platform("linux/arm64")),),
    )
    with pytest.raises(PlatformMismatchError, match="image config says linux/amd64"):
        publish_release(client, release, ReleaseOptions())
    assert writes(fake) == []


def test_a_source_list_gives_the_selected_platforms_with_their_attestations(fake, client):
    images = seed_sources(fake, "team/src", PLATFORMS[:3])
    attestation = fake.seed_image("team/src", "unknown/unknown")
    doc = json.loads(seed_and_get(fake, images))
    doc["manifests"].append(
        {
            **attestation.descriptor(),
            "annotations": {
                ATTESTATION_TYPE_KEY: "attestation-manifest",
                ATTESTATION_SUBJECT_KEY: images[1].digest,
            },
        }
    )
    doc["mediaType"] = OCI_INDEX
    fake.put_manifest("team/src", "multi", json.dumps(doc).encode(), OCI_INDEX)
    release = Release(ref(fake, "team/app:1.0"), (SourceSpec(f"{fake.host}/team/src:multi"),))
    selection = SourceFilter((parse_platform("linux/arm64"),), keep_attestations=True)

    publish_release(client, release, ReleaseOptions(selection=selection))

    listed = served_list(fake, "team/app", "1.0")
    assert [m["digest"] for m in listed["manifests"]] == [images[1].digest, attestation.digest]
    assert listed["mediaType"] == OCI_INDEX


def seed_and_get(fake: FakeRegistry, images: list[FakeImage]) -> bytes:
    digest = seed_list_of(fake, "team/src", "plain", images)
    stored = fake.get_manifest("team/src", digest)
    assert stored is not None
    return stored.data


@pytest.mark.usefixtures("upsert_waits")  # the settle wait recorded, not slept
def test_release_with_upsert_keeps_the_other_platforms(fake, client):
    images = seed_sources(fake, "team/app", PLATFORMS[:2])
    seed_list_of(fake, "team/app", "1.0", images[:1])
    release = release_of(fake, fake, "team/app", PLATFORMS[1:2])

    publish_release(client, release, ReleaseOptions(upsert=True))

    assert served_platforms(fake, "team/app", "1.0") == PLATFORMS[:2]


# -- push_list decisions -------------------------------------------------------------------


def entries_of(fake: FakeRegistry, repo: str, images: list[FakeImage]) -> list[ListEntry]:
    return [entry_of(fake, repo, image) for image in images]


def test_a_child_missing_from_the_target_is_named_before_anything_is_written(fake, client):
    present = fake.seed_image("team/app", "linux/amd64")
    absent = make_image("linux/arm64")  # never pushed anywhere
    entries = entries_of(fake, "team/app", [present, absent])

    with pytest.raises(MissingChildError, match=absent.digest):
        push_list(client, ref(fake, "team/app:1.0"), entries)

    assert writes(fake) == []


def test_a_refused_list_type_is_pushed_once_as_the_other_type(fake, client):
    entries = entries_of(fake, "team/app", seed_sources(fake, "team/app", PLATFORMS[:2]))
    fake.script(("PUT", r"/manifests/1\.0$"), fail(400, "MANIFEST_INVALID", "list type refused"))
    notes: list[str] = []

    result = push_list(
        client,
        ref(fake, "team/app:1.0"),
        entries,
        extra_tags=[ref(fake, "team/app:1")],
        warn=notes.append,
    )

    assert result.media_type == OCI_INDEX
    assert served_list(fake, "team/app", "1.0")["mediaType"] == OCI_INDEX
    assert fake.tags("team/app")["1"] == result.digest
    assert len(notes) == 1 and "pushing it as" in notes[0]


def test_a_refused_list_type_is_final_when_the_format_was_asked_for(fake, client):
    entries = entries_of(fake, "team/app", seed_sources(fake, "team/app", PLATFORMS[:2]))
    fake.script(("PUT", r"/manifests/1\.0$"), fail(400, "MANIFEST_INVALID", "list type refused"))

    with pytest.raises(ManifestInvalidError):
        push_list(client, ref(fake, "team/app:1.0"), entries, list_format="docker")

    assert fake.count("PUT", r"/manifests/1\.0$") == 1


def test_an_unchanged_push_writes_nothing(fake, client):
    entries = entries_of(fake, "team/app", seed_sources(fake, "team/app", PLATFORMS[:2]))
    first = push_list(client, ref(fake, "team/app:1.0"), entries)
    fake.log.clear()

    again = push_list(client, ref(fake, "team/app:1.0"), entries)

    assert again.unchanged and again.digest == first.digest
    assert by_kind(fake) == Counter({("HEAD", "manifest"): 1})


def test_a_list_held_in_its_other_type_counts_as_unchanged(fake, client):
    entries = entries_of(fake, "team/app", seed_sources(fake, "team/app", PLATFORMS[:2]))
    fake.script(("PUT", r"/manifests/1\.0$"), fail(400, "MANIFEST_INVALID", "list type refused"))
    first = push_list(client, ref(fake, "team/app:1.0"), entries)
    assert first.media_type == OCI_INDEX
    fake.log.clear()

    again = push_list(client, ref(fake, "team/app:1.0"), entries)

    assert again.unchanged and again.digest == first.digest and writes(fake) == []


def test_a_push_expecting_another_digest_stops_before_writing(fake, client):
    entries = entries_of(fake, "team/app", seed_sources(fake, "team/app", PLATFORMS[:2]))
    with pytest.raises(TagMovedError, match="expected no tag"):
        seed_list_of(fake, "team/app", "1.0", [make_image("linux/amd64")])
        push_list(client, ref(fake, "team/app:1.0"), entries, expect_current=None)
    assert writes(fake) == []


def test_a_read_back_that_shows_another_list_is_an_error(fake, client):
    # A registry whose PUT reply does not name the digest: only a read-back can tell.
    fake.personality = dataclasses.replace(fake.personality, digest_on_put=False)
    images = seed_sources(fake, "team/app", PLATFORMS[:2])
    entries = entries_of(fake, "team/app", images)
    fake.script(
        ("PUT", r"/manifests/1\.0$"),
        call(lambda _r: seed_list_of(fake, "team/app", "1.0", images[:1]), after=True),
    )

    with pytest.raises(ReadBackError, match="another writer"):
        push_list(client, ref(fake, "team/app:1.0"), entries)


def test_a_push_by_digest_writes_no_tag(fake, client):
    entries = entries_of(fake, "team/app", seed_sources(fake, "team/app", PLATFORMS[:2]))
    by_digest = parse_reference(f"{fake.host}/team/app", default_tag=None)
    result = push_list(client, by_digest, entries)
    assert result.target.digest == result.digest
    assert fake.tags("team/app").keys() == {tag_of(p) for p in PLATFORMS[:2]}
    assert fake.get_manifest("team/app", result.digest) is not None


def test_duplicate_platforms_are_refused_before_any_request(fake, client):
    amd64 = fake.seed_image("team/app", "linux/amd64")
    twin = make_image("linux/amd64", text="another build")
    fake.log.clear()
    with pytest.raises(UsageError, match="two entries for platform linux/amd64"):
        push_list(client, ref(fake, "team/app:1.0"), entries_of(fake, "team/app", [amd64, twin]))
    assert fake.log.entries == []


def test_a_denied_child_upload_leaves_no_tag(fake, client):
    images = seed_sources(fake, "team/src", PLATFORMS[:2])
    fake.script(("PUT", r"/manifests/sha256:"), fail(403, "DENIED", "no"), times=None)
    with pytest.raises(DeniedError):
        push_list(client, ref(fake, "team/app:1.0"), entries_of(fake, "team/src", images))
    assert fake.tags("team/app") == {}


# -- upsert --------------------------------------------------------------------------------


def upsert(client: RegistryClient, fake: FakeRegistry, fresh: list[ListEntry], **options):
    return upsert_list(
        client, ref(fake, "team/app:1.0"), fresh, policy=QUICK, sleep=lambda s: None, **options
    )


def test_upsert_into_a_missing_tag_creates_the_list(fake, client):
    images = seed_sources(fake, "team/app", PLATFORMS[:1])
    fake.log.clear()

    upsert(client, fake, entries_of(fake, "team/app", images))

    assert served_platforms(fake, "team/app", "1.0") == PLATFORMS[:1]
    # Ping; the tag (absent) read, read again before writing and compared just before the
    # write; the child checked; the write; the read-back; the settle re-check (HEAD + GET).
    assert by_kind(fake)[("PUT", "manifest")] == 1
    assert len(fake.log.entries) <= 9, summary(fake)


def test_upsert_replaces_in_place_and_a_repeat_writes_nothing(fake, client):
    images = seed_sources(fake, "team/app", PLATFORMS[:3])
    seed_list_of(fake, "team/app", "1.0", images)
    rebuilt = fake.seed_image("team/app", "linux/arm64/v8")
    fresh = entries_of(fake, "team/app", [rebuilt])

    upsert(client, fake, fresh)
    assert served_platforms(fake, "team/app", "1.0") == [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
    ]
    fake.log.clear()

    again = upsert(client, fake, fresh)

    assert again.unchanged and writes(fake) == []


def test_upsert_refuses_to_merge_into_a_single_image(fake, client):
    image = fake.seed_image("team/app", "linux/amd64", tag="1.0")
    with pytest.raises(ManifestFormatError, match="single image"):
        upsert(client, fake, entries_of(fake, "team/app", [image]))
    assert writes(fake) == []


def test_upsert_keeps_index_annotations_unless_a_docker_list_is_asked_for(fake, client):
    images = seed_sources(fake, "team/app", PLATFORMS[:2])
    first = push_list(
        client,
        ref(fake, "team/app:1.0"),
        entries_of(fake, "team/app", images[:1]),
        annotations={"org.opencontainers.image.source": "https://example.com/app"},
    )
    assert first.media_type == OCI_INDEX

    upsert(client, fake, entries_of(fake, "team/app", images[1:]), annotations={"x": "1"})
    assert served_list(fake, "team/app", "1.0")["annotations"] == {
        "org.opencontainers.image.source": "https://example.com/app",
        "x": "1",
    }

    upsert(client, fake, entries_of(fake, "team/app", images[1:]), list_format="docker")
    listed = served_list(fake, "team/app", "1.0")
    assert listed["mediaType"] == DOCKER_LIST and "annotations" not in listed


def test_upsert_gives_up_after_its_attempts_when_always_overwritten(fake, client):
    images = seed_sources(fake, "team/app", PLATFORMS[:2])
    seed_list_of(fake, "team/app", "1.0", images[:1])
    notes: list[str] = []

    def overwrite(_request: object) -> None:
        seed_list_of(fake, "team/app", "1.0", images[:1])

    fake.script(("PUT", r"/manifests/1\.0$"), call(overwrite, after=True), times=None)
    with pytest.raises(TagMovedError, match="gave up after 3 attempts"):
        upsert(client, fake, entries_of(fake, "team/app", images[1:]), notify=notes.append)

    assert fake.count("PUT", r"/manifests/1\.0$") == QUICK.attempts
    assert len(notes) == QUICK.attempts and all("merging again" in n for n in notes)


def test_upsert_of_a_platform_another_writer_just_added_keeps_both(fake, client):
    images = seed_sources(fake, "team/app", PLATFORMS[:3])
    seed_list_of(fake, "team/app", "1.0", images[:1])
    fake.script(
        ("HEAD", r"/manifests/1\.0$"),
        call(lambda _r: other_writer_adds(fake, "team/app", "1.0", images[2]), after=True),
    )

    upsert(client, fake, entries_of(fake, "team/app", images[1:2]))

    assert served_platforms(fake, "team/app", "1.0") == PLATFORMS[:3][:1] + [
        PLATFORMS[2],
        PLATFORMS[1],
    ]


# -- verify --------------------------------------------------------------------------------


def test_verify_passes_a_list_manifestor_pushed(fake, client):
    seed_sources(fake, "team/app", PLATFORMS)
    publish_release(client, release_of(fake, fake, "team/app", PLATFORMS), ReleaseOptions())
    expected = [parse_platform(p) for p in PLATFORMS]

    report = verify_list(client, ref(fake, "team/app:1.0"), expected=expected)

    assert report.ok, report.to_json()
    assert [str(c.actual) for c in report.children] == PLATFORMS
    assert report.to_json()["ok"] is True


def test_verify_reports_missing_children_and_missing_platforms(fake, client):
    present = fake.seed_image("team/app", "linux/amd64")
    absent = make_image("linux/arm64")
    seed_list_of(fake, "team/app", "1.0", [present, absent])

    report = verify_list(
        client, ref(fake, "team/app:1.0"), expected=[parse_platform("linux/s390x")]
    )

    assert report.problems == ("expected platform linux/s390x is missing",)
    assert report.children[1].problems == (
        f"child {absent.digest} does not resolve in {fake.host}/team/app",
    )


def test_verify_flags_attestations_unless_allowed_and_strays_always(fake, client):
    amd64 = fake.seed_image("team/app", "linux/amd64")
    att = fake.seed_image("team/app", "unknown/unknown")
    stray = make_image("unknown/unknown", text="stray")
    fake.seed_image("team/app", "unknown/unknown")
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            amd64.descriptor(),
            {**att.descriptor(), "annotations": {ATTESTATION_SUBJECT_KEY: amd64.digest}},
        ],
    }
    fake.put_manifest("team/app", "1.0", json.dumps(doc).encode(), OCI_INDEX)

    strict = verify_list(client, ref(fake, "team/app:1.0"))
    allowed = verify_list(client, ref(fake, "team/app:1.0"), allow_attestations=True)

    assert strict.problems == (
        "1 attestation entry (unknown/unknown) in the list; pass --allow-attestations if "
        "that is intended",
    )
    assert allowed.ok
    doc["manifests"][1]["annotations"][ATTESTATION_SUBJECT_KEY] = stray.digest
    fake.put_manifest("team/app", "1.0", json.dumps(doc).encode(), OCI_INDEX)
    again = verify_list(client, ref(fake, "team/app:1.0"), allow_attestations=True)
    assert again.children[1].problems == (
        f"attestation for {stray.digest}, which is not in the list",
    )


def test_verify_reports_a_single_image_and_duplicate_platforms(fake, client):
    amd64 = fake.seed_image("team/app", "linux/amd64", tag="single")
    report = verify_list(client, ref(fake, "team/app:single"))
    assert report.problems == ("not a list: a single image",)
    assert str(report.children[0].actual) == "linux/amd64"

    other = make_image("linux/amd64", text="other build")
    for blob in (other.config, other.layer):
        fake.put_blob("team/app", blob.data)
    fake.put_manifest("team/app", other.digest, other.manifest.data, other.manifest.media_type)
    seed_list_of(fake, "team/app", "1.0", [amd64, other])
    report = verify_list(client, ref(fake, "team/app:1.0"))
    assert report.problems == (f"two entries for linux/amd64: {amd64.digest} and {other.digest}",)


def test_verify_of_a_list_of_attestations_only_says_it_has_no_images(fake, client):
    att = fake.seed_image("team/app", "unknown/unknown")
    seed_list_of(fake, "team/app", "1.0", [att])
    report = verify_list(client, ref(fake, "team/app:1.0"), allow_attestations=True)
    assert "the list has no images" in report.problems


def test_a_platform_is_read_from_the_config_even_with_a_variant(fake, client):
    image = fake.seed_image("team/app", "linux/arm/v7", tag="armv7")
    release = Release(ref(fake, "team/app:1.0"), (SourceSpec(f"{fake.host}/team/app:armv7"),))
    publish_release(client, release, ReleaseOptions())
    (child,) = served_list(fake, "team/app", "1.0")["manifests"]
    assert child["digest"] == image.digest
    assert Platform.from_json(child["platform"]) == Platform("linux", "arm", "v7")
    assert parse_manifest(image.manifest.data, image.manifest.media_type).digest == image.digest
