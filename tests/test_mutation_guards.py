"""Behaviours that a small, plausible bug could break without any other test noticing
(issue 14's list). Each test here was checked by putting that bug in by hand and
watching the test fail; the bug is named in the test's docstring.

Races are not left to chance: the scripted registry (tests/fakereg) or the injected
`sleep` moves the tag at one exact moment of the client's sequence, every run."""

from __future__ import annotations

import email.utils
import json
import os
import time

import pytest
from fakereg import AuthConfig, FakeRegistry, call, make_image, respond
from fakereg.images import DOCKER_LIST
from logichelpers import (
    entry_of,
    fake_client,
    other_writer_adds,
    ref,
    seed_list_of,
    served_platforms,
    summary,
)

from manifestor.errors import DeadlineError, ManifestorError
from manifestor.local.store import ManifestStore, StoredEntry
from manifestor.model.entries import ListEntry, check_entries, is_attestation_descriptor
from manifestor.model.oci import DOCKER_MANIFEST, Descriptor, parse_manifest
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.publish import push_list
from manifestor.ops.release import ReleaseOptions, publish_release
from manifestor.ops.upsert import UpsertPolicy, upsert_list
from manifestor.ops.verify import verify_list
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

# -- verify ------------------------------------------------------------------------------


def _list_with_claims(fake: FakeRegistry, repo: str, claims: list[tuple[str, dict]]) -> str:
    """Seed one image per (actual platform, descriptor overrides) and a list whose
    descriptors are the images' own, changed by the overrides; returns the list's tag."""
    manifests = []
    for actual, overrides in claims:
        image = fake.seed_image(repo, actual)
        manifests.append({**image.descriptor(), **overrides})
    doc = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": manifests}
    fake.put_manifest(repo, "1.0", json.dumps(doc, indent=3).encode(), DOCKER_LIST)
    return "1.0"


def _child_problems(client: RegistryClient, fake: FakeRegistry, repo: str) -> list[list[str]]:
    report = verify_list(client, ref(fake, f"{repo}:1.0"))
    return [list(c.problems) for c in report.children]


def test_verify_flags_a_child_whose_config_names_another_os(fake, client):
    """Bug: verify compares only the architecture of the config with the descriptor."""
    _list_with_claims(
        fake,
        "team/app",
        [
            ("linux/amd64", {}),
            ("linux/arm64", {"platform": {"architecture": "arm64", "os": "windows"}}),
        ],
    )

    problems = _child_problems(client, fake, "team/app")

    assert problems[0] == []
    assert problems[1] == ["listed as windows/arm64 but its image config says linux/arm64"]


def test_verify_flags_a_variant_that_disagrees_but_not_one_the_config_omits(fake, client):
    """Bug: verify ignores a variant that disagrees (arm/v6 listed, the config says v7)."""
    _list_with_claims(
        fake,
        "team/app",
        [
            ("linux/arm/v7", {"platform": {"architecture": "arm", "os": "linux", "variant": "v6"}}),
            # arm64 configs rarely record "v8": no variant in the config is no contradiction.
            (
                "linux/arm64",
                {"platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            ),
        ],
    )

    problems = _child_problems(client, fake, "team/app")

    assert problems == [["listed as linux/arm/v6 but its image config says linux/arm/v7"], []]


def test_verify_flags_a_descriptor_size_that_does_not_match_the_child(fake, client):
    """Bug: verify does not check that a descriptor's size matches the child it names."""
    image = make_image("linux/amd64")
    size = len(image.manifest.data)
    _list_with_claims(fake, "team/app", [("linux/amd64", {"size": size + 1})])

    report = verify_list(client, ref(fake, "team/app:1.0"))

    assert not report.ok
    assert report.children[0].problems == (
        f"descriptor says {DOCKER_MANIFEST} of {size + 1} bytes, the registry serves "
        f"{DOCKER_MANIFEST} of {size} bytes",
    )


# -- publish -----------------------------------------------------------------------------


def _two_images(fake: FakeRegistry, repo: str) -> list[ListEntry]:
    images = [fake.seed_image(repo, "linux/amd64"), fake.seed_image(repo, "linux/arm64")]
    return [entry_of(fake, repo, image) for image in images]


def test_publish_writes_the_extra_tags_after_the_main_tag(fake, client):
    """Bug: publish pushes the extra tags (--tag) before the main tag."""
    entries = _two_images(fake, "team/app")
    extra = [ref(fake, "team/app:latest"), ref(fake, "team/app:1")]

    push_list(client, ref(fake, "team/app:1.0"), entries, extra_tags=extra)

    tag_puts = [e for e in fake.log.select("PUT", r"/manifests/[^/:]+$")]
    assert [e.path.rsplit("/", 1)[1] for e in tag_puts] == ["1.0", "latest", "1"]
    # One after the other: the main tag was answered before the first extra tag was sent.
    assert tag_puts[0].ended is not None and tag_puts[0].ended <= tag_puts[1].started


def test_publish_writes_no_extra_tag_when_the_main_tag_is_refused(fake, client):
    """Bug: extra tags first, so a refused main tag leaves `latest` pointing at the list."""
    entries = _two_images(fake, "team/app")
    fake.script(("PUT", r"/manifests/1\.0$"), respond(403, '{"errors":[{"code":"DENIED"}]}'))

    with pytest.raises(ManifestorError):
        push_list(client, ref(fake, "team/app:1.0"), entries, extra_tags=[ref(fake, "team/app:1")])

    assert fake.tags("team/app") == {}, summary(fake)


# -- attestations ------------------------------------------------------------------------


def _descriptor(platform: Platform | None, annotations: dict[str, str] | None) -> Descriptor:
    return Descriptor(DOCKER_MANIFEST, "sha256:" + "a" * 64, 10, platform, annotations)


@pytest.mark.parametrize(
    ("platform", "annotations", "expected"),
    [
        (Platform("unknown", "unknown"), None, True),
        (Platform("linux", "amd64"), {"vnd.docker.reference.type": "attestation-manifest"}, True),
        (None, {"vnd.docker.reference.type": "attestation-manifest"}, True),
        (Platform("unknown", "amd64"), None, False),
        (Platform("linux", "unknown"), None, False),
        (Platform("linux", "amd64"), {"vnd.docker.reference.type": "other"}, False),
    ],
    ids=["unknown-platform", "annotation", "annotation-no-platform", "os-only", "arch-only", "no"],
)
def test_an_attestation_is_known_by_its_annotation_or_by_unknown_unknown(
    platform, annotations, expected
):
    """Bug: an attestation is recognised by its annotation alone."""
    assert is_attestation_descriptor(_descriptor(platform, annotations)) is expected


def test_two_unannotated_unknown_unknown_entries_are_not_duplicate_platforms():
    """Bug (same): two unknown/unknown entries would count as two images of one platform."""

    def entry(text: str, platform: Platform) -> ListEntry:
        image = make_image("linux/amd64", text=text)
        manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
        return ListEntry(parse_reference(f"r.example/app@{image.digest}"), manifest, platform)

    unknown = Platform("unknown", "unknown")
    check_entries(
        [entry("a", Platform("linux", "amd64")), entry("b", unknown), entry("c", unknown)]
    )


# -- auth --------------------------------------------------------------------------------

BEARER = AuthConfig(
    scheme="bearer",
    users={"alice": "alice-pw"},
    grants={"alice": [("*", ["pull", "push"])]},
    anonymous=[("*", ["pull"])],
)


def test_a_token_fetched_with_one_credential_is_never_used_without_it(tmp_path):
    """Bug: the token cache key ignores the credential the token was fetched with.

    One client, one registry reached under two names (127.0.0.1:P with alice's
    credentials, localhost:P anonymously): same realm and service, so only the credential
    tells the two tokens apart. Anonymous may pull but not push."""
    with FakeRegistry(auth=BEARER) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="base")
        image = make_image("linux/amd64")
        manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
        alice = {"username": "alice", "password": "alice-pw", "explicit_for": fake.host}
        with fake_client(tmp_path, **alice) as client:
            client.put_manifest(ref(fake, "team/app:by-alice"), manifest)
            anonymous = parse_reference(f"localhost:{fake.host.split(':')[1]}/team/app:anon")
            with pytest.raises(ManifestorError):
                client.put_manifest(anonymous, manifest)

        assert "anon" not in fake.tags("team/app"), summary(fake)
        assert fake.api.tokens.issued >= 2


def test_a_token_refused_with_insufficient_scope_is_not_sent_again(fake, tmp_path):
    """Bug: a re-auth after insufficient_scope keeps the rejected token in the cache, and
    the next request with the same scopes sends it again."""
    fake.auth = BEARER
    entries = _two_images(fake, "team/app")
    challenge = (
        f'Bearer realm="{fake.url}/token",service="fakereg",'
        'scope="repository:team/app:pull,push",error="insufficient_scope"'
    )
    fake.script(
        ("PUT", r"/manifests/1\.0$"),
        respond(401, '{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", challenge)]),
    )
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        push_list(client, ref(fake, "team/app:1.0"), entries, extra_tags=[ref(fake, "team/app:1")])

    log = fake.log.entries
    refused = next(i for i, e in enumerate(log) if e.status == 401 and e.method == "PUT")
    rejected = log[refused].headers["authorization"]
    later = [e.headers.get("authorization") for e in log[refused + 1 :] if e.path != "/token"]
    assert later and rejected not in later, summary(fake)
    assert fake.tags("team/app").keys() == {"1.0", "1"}


# -- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["http-date", "seconds"])
def test_a_retry_after_past_the_budget_fails_at_once_in_both_its_forms(fake, form):
    """Bug: Retry-After in its HTTP-date form is not bounded (the seconds form is): a
    wait longer than the retry budget must fail at once, saying how long was asked."""
    later = time.time() + 3600
    value = email.utils.formatdate(later, usegmt=True) if form == "http-date" else "3600"
    fake.script(("GET", r"^/v2/$"), respond(503, "busy", [("Retry-After", value)]))
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, budget=2.0)
    transport = Transport(retry=policy, sleep=sleeps.append)
    try:
        with pytest.raises(DeadlineError, match=r"asked to wait 3[56]\d\d s"):
            transport.request("GET", f"{fake.url}/v2/")
    finally:
        transport.close()
    assert sleeps == []


# -- store -------------------------------------------------------------------------------


def test_updating_an_entry_replaces_the_file_and_never_rewrites_it_in_place(tmp_path):
    """Bug: update_entry writes the entry file in place, not atomically (temp + rename).

    A reader holding the old file open must see the old entry whole; an in-place write
    truncates and rewrites the very file it is reading."""
    store = ManifestStore(tmp_path)
    list_ref = parse_reference("r.example/app:1.0")
    image = make_image("linux/amd64")
    image_ref = f"r.example/app@{image.digest}"
    manifest = parse_manifest(image.manifest.data, image.manifest.media_type)

    def stored(platform: Platform) -> StoredEntry:
        descriptor = Descriptor(manifest.media_type, manifest.digest, manifest.size, platform)
        return StoredEntry(image_ref, descriptor, manifest.raw)

    store.save(list_ref, [stored(Platform("linux", "amd64"))], replace=False)
    (path,) = [p for p in store.root.glob("*/*") if not p.parent.name.startswith(".")]
    old_bytes = path.read_bytes()

    with open(path, "rb") as reader:
        store.update_entry(list_ref, stored(Platform("linux", "amd64", "v3")))
        assert reader.read() == old_bytes

    assert path.read_bytes() != old_bytes
    assert store.get(list_ref).entries[0].descriptor.platform == Platform("linux", "amd64", "v3")
    assert os.listdir(store.root / ".manifestor-tmp") == []


# -- release: the unchanged check --------------------------------------------------------


OPTIONS = ReleaseOptions()


def _release(fake: FakeRegistry, sources: list[tuple[str, Platform | None]]) -> Release:
    return Release(
        target=ref(fake, "team/app:1.0"),
        sources=tuple(SourceSpec(f"{fake.host}/{text}", platform) for text, platform in sources),
    )


def test_release_stating_v8_rewrites_a_list_that_records_plain_arm64(fake, client):
    """Bug: the unchanged check matches platforms loosely (arm64 against arm64/v8) where
    the release states the variant, so the list keeps the platform it had."""
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    fake.seed_image("team/app", "linux/arm64", tag="arm64")  # its config has no variant
    first = publish_release(
        client, _release(fake, [("team/app:amd64", None), ("team/app:arm64", None)]), OPTIONS
    )
    assert served_platforms(fake, "team/app", "1.0") == ["linux/amd64", "linux/arm64"]
    v8 = Platform("linux", "arm64", "v8")

    second = publish_release(
        client, _release(fake, [("team/app:amd64", None), ("team/app:arm64", v8)]), OPTIONS
    )

    assert not second.unchanged and second.digest != first.digest
    assert served_platforms(fake, "team/app", "1.0") == ["linux/amd64", "linux/arm64/v8"]


def test_release_stating_v8_again_is_unchanged_and_writes_nothing(fake, client):
    """The other side of the same check: exactly what the release states is unchanged."""
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    fake.seed_image("team/app", "linux/arm64", tag="arm64")
    v8 = Platform("linux", "arm64", "v8")
    release = _release(fake, [("team/app:amd64", None), ("team/app:arm64", v8)])
    first = publish_release(client, release, OPTIONS)
    fake.log.clear()

    again = publish_release(client, release, OPTIONS)

    assert again.unchanged and again.digest == first.digest
    assert fake.count("PUT") == 0 and fake.count("GET", r"/blobs/") == 0, summary(fake)


# -- upsert: compare-and-swap against another writer, deterministically -------------------

NO_WAIT = UpsertPolicy(attempts=4, settle=1.0, jitter=0.0)


class Upsert:
    """One per-arch job: arm64 is upserted into team/app:1.0, which holds [amd64]; the
    rebuilt arm64 image lives in team/arm64 (so it is brought in: blobs, then the child
    manifest by digest, then the list). `racer` is the other job's s390x image."""

    def __init__(self, fake: FakeRegistry) -> None:
        self.fake = fake
        amd64 = fake.seed_image("team/app", "linux/amd64")
        seed_list_of(fake, "team/app", "1.0", [amd64])
        self.fresh = entry_of(fake, "team/arm64", fake.seed_image("team/arm64", "linux/arm64"))
        self.racer = fake.seed_image("team/app", "linux/s390x")
        self.sleeps: list[float] = []
        self.on_settle = None

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds >= NO_WAIT.settle and self.on_settle is not None:
            self.on_settle()
            self.on_settle = None

    def other_writer(self, _request: object = None) -> None:
        other_writer_adds(self.fake, "team/app", "1.0", self.racer)

    def run(self, client: RegistryClient):
        return upsert_list(
            client,
            ref(self.fake, "team/app:1.0"),
            [self.fresh],
            policy=NO_WAIT,
            sleep=self.sleep,
        )


def test_upsert_merges_again_when_the_tag_moves_while_its_child_is_uploaded(fake, client):
    """Bug: no re-check of the tag just before the list PUT, or no retry when it moved.

    The other writer's list lands while this job PUTs its arm64 child by digest: after
    this job read the tag, before it writes the list."""
    job = Upsert(fake)
    fake.script(("PUT", r"/manifests/sha256:"), call(job.other_writer, after=True))

    job.run(client)

    assert served_platforms(fake, "team/app", "1.0") == [
        "linux/amd64",
        "linux/s390x",
        "linux/arm64",
    ]
    assert fake.count("PUT", r"/manifests/1\.0$") == 1, summary(fake)


def test_upsert_merges_again_when_the_tag_is_overwritten_right_after_its_write(fake, client):
    """Bug: a read-back that shows another writer's list is not retried."""
    job = Upsert(fake)

    def overwrite(_request: object) -> None:
        # The other job merged from the old [amd64] list and wrote over ours.
        seed_list_of(fake, "team/app", "1.0", [fake_image(fake, "linux/amd64"), job.racer])

    fake.script(("PUT", r"/manifests/1\.0$"), call(overwrite, after=True))

    job.run(client)

    assert sorted(served_platforms(fake, "team/app", "1.0")) == [
        "linux/amd64",
        "linux/arm64",
        "linux/s390x",
    ]
    assert fake.count("PUT", r"/manifests/1\.0$") == 2, summary(fake)


def test_upsert_settle_recheck_merges_again_when_another_writer_drops_its_entry(fake, client):
    """Bug: no settle re-check after the write (or one that does not merge again).

    The other job's write lands during this job's settle wait, built from the list as it
    was before (so without arm64): only the re-check can notice arm64 is gone."""
    job = Upsert(fake)

    def overwrite() -> None:
        seed_list_of(fake, "team/app", "1.0", [fake_image(fake, "linux/amd64"), job.racer])

    job.on_settle = overwrite

    job.run(client)

    assert sorted(served_platforms(fake, "team/app", "1.0")) == [
        "linux/amd64",
        "linux/arm64",
        "linux/s390x",
    ]
    assert fake.count("PUT", r"/manifests/1\.0$") == 2, summary(fake)
    assert job.sleeps.count(NO_WAIT.settle) == 2


def fake_image(fake: FakeRegistry, platform: str):
    """The image seed_image made for `platform` (images are deterministic)."""
    return make_image(platform)
