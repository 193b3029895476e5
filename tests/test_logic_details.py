"""Details of the workflows and of auth that a mutation run (scripts/mutation.sh) showed no
test pinned: what reaches the options (format, annotations, notes, progress), what a dry
run prints, what a report says in full, which parts of a token answer count. Fast: the
scripted in-process registry (tests/fakereg)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakereg import FakeRegistry, make_image, respond
from fakereg.images import OCI_INDEX
from logichelpers import entry_of, ref, seed_list_of, served_list, summary

from manifestor.errors import AuthError, PlatformMismatchError
from manifestor.local.keychain import Credential
from manifestor.model.entries import ATTESTATION_SUBJECT_KEY
from manifestor.model.platform import Platform, parse_platform
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.publish import plan_steps
from manifestor.ops.release import (
    ReleaseOptions,
    _same_platform,
    plan_release,
    publish_release,
)
from manifestor.ops.upsert import UpsertPolicy, upsert_list
from manifestor.ops.verify import verify_list
from manifestor.remote.auth import (
    Authenticator,
    Challenge,
    Scope,
    TokenCache,
    parse_challenges,
    parse_scope,
    repository_scope,
    token_expiry,
)
from manifestor.remote.transport import Transport

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
QUICK = UpsertPolicy(attempts=3, settle=0.0, jitter=0.0)


class Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, label: str, total: int | None) -> object:
        self.events.append(("start", label, total))
        return label

    def update(self, task: object, completed: int) -> None:
        self.events.append(("update", task, completed))

    def finish(self, task: object) -> None:
        self.events.append(("finish", task))


# -- release: options reach the push ---------------------------------------------------------


def test_release_options_and_annotations_reach_the_list(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    release = Release(
        ref(fake, "team/app:1.0"),
        (SourceSpec(f"{fake.host}/team/app:amd64"),),
        annotations={"org.opencontainers.image.version": "1.0"},
    )

    first = publish_release(client, release, ReleaseOptions(list_format="oci"))
    again = publish_release(client, release, ReleaseOptions(list_format="oci"))

    listed = served_list(fake, "team/app", "1.0")
    assert listed["mediaType"] == OCI_INDEX == first.media_type
    assert listed["annotations"] == {"org.opencontainers.image.version": "1.0"}
    assert again.unchanged and again.media_type == OCI_INDEX and again.copied_children == ()
    assert again.digest == first.digest


def test_release_notes_and_progress_reach_the_copy(fake, client):
    with FakeRegistry() as source:
        image = source.seed_image("team/src", "linux/amd64", tag="amd64")
        release = Release(ref(fake, "team/app:1.0"), (SourceSpec(f"{source.host}/team/src:amd64"),))
        notes: list[str] = []
        progress = Recorder()

        publish_release(client, release, ReleaseOptions(), notify=notes.append, progress=progress)

    assert notes == [f"Pushed ref {fake.host}/team/app@{image.digest} with digest: {image.digest}"]
    labels = [e[1] for e in progress.events if e[0] == "start"]
    source_name = f"{source.host}/team/src:amd64"
    assert sorted(labels) == sorted(
        f"{blob.digest[7:19]} {source_name}" for blob in (image.config, image.layer)
    )
    finished = [e for e in progress.events if e[0] == "finish"]
    assert len(finished) == 2
    updates = {e[1]: e[2] for e in progress.events if e[0] == "update"}
    assert updates[f"{image.layer.digest[7:19]} {source_name}"] == len(image.layer.data)


def test_a_release_from_an_oci_layout_uploads_into_the_target(fake, client):
    release = Release(
        ref(fake, "team/app:1.0"), (SourceSpec(f"oci:{FIXTURES / 'linux-arm64-v8'}"),)
    )

    result = publish_release(client, release, ReleaseOptions())

    (child,) = served_list(fake, "team/app", "1.0")["manifests"]
    assert fake.get_manifest("team/app", child["digest"]) is not None
    assert result.copied_children[0].target.path == "team/app"
    assert child["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}


def test_a_dry_run_plan_of_an_annotated_release_is_an_index(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="amd64")
    release = Release(
        ref(fake, "team/app:1.0"),
        (SourceSpec(f"{fake.host}/team/app:amd64"),),
        annotations={"a": "b"},
    )
    plan = plan_release(client, release, ReleaseOptions())
    assert plan.document.media_type == OCI_INDEX
    assert json.loads(plan.document.raw)["annotations"] == {"a": "b"}


def _multi(fake: FakeRegistry, platforms: list[str]) -> str:
    images = [fake.seed_image("team/src", p) for p in platforms]
    seed_list_of(fake, "team/src", "multi", images)
    return f"{fake.host}/team/src:multi"


def test_a_stated_platform_picks_its_image_from_a_source_list(fake, client):
    source = _multi(fake, ["linux/amd64", "linux/arm/v7"])
    release = Release(ref(fake, "team/app:1.0"), (SourceSpec(source, parse_platform("linux/arm")),))

    publish_release(client, release, ReleaseOptions())

    (child,) = served_list(fake, "team/app", "1.0")["manifests"]
    # The stated "linux/arm" took its variant from the image: arm/v7.
    assert child["platform"] == {"architecture": "arm", "os": "linux", "variant": "v7"}


def test_a_stated_platform_a_source_list_lacks_is_refused_naming_what_it_has(fake, client):
    source = _multi(fake, ["linux/amd64", "linux/arm/v7"])
    release = Release(ref(fake, "team/app:1.0"), (SourceSpec(source, parse_platform("s390x")),))

    with pytest.raises(PlatformMismatchError) as caught:
        publish_release(client, release, ReleaseOptions())

    assert str(caught.value) == (
        f"{source} has no image for linux/s390x (it has linux/amd64, linux/arm/v7)"
    )


def test_a_mismatch_message_says_what_to_suspect(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="x")
    text = f"{fake.host}/team/app:x"
    release = Release(ref(fake, "team/app:1.0"), (SourceSpec(text, parse_platform("arm64")),))
    with pytest.raises(PlatformMismatchError) as caught:
        publish_release(client, release, ReleaseOptions())
    assert str(caught.value) == (
        f"{text} was given as linux/arm64 but its image config says linux/amd64: "
        "an image built on the wrong host? refusing to publish it "
        "(--allow-platform-mismatch publishes it anyway)"
    )


@pytest.mark.parametrize(
    ("recorded", "stated", "same"),
    [
        (Platform("windows", "amd64", None, "10.0.1"), Platform("windows", "amd64"), True),
        (
            Platform("windows", "amd64", None, "10.0.1"),
            Platform("windows", "amd64", None, "10.0.1"),
            True,
        ),
        (
            Platform("windows", "amd64", None, "10.0.1"),
            Platform("windows", "amd64", None, "10.0.2"),
            False,
        ),
        (Platform("linux", "arm64", "v8"), Platform("linux", "arm64"), True),
        (Platform("linux", "arm64"), Platform("linux", "arm64", "v8"), False),
        (
            Platform("linux", "amd64", None, None, ("a",)),
            Platform("linux", "amd64", None, None, ("b",)),
            False,
        ),
        (Platform("linux", "amd64", None, None, ("a",)), Platform("linux", "amd64"), True),
    ],
)
def test_the_unchanged_check_compares_what_the_release_states(recorded, stated, same):
    assert _same_platform(recorded, stated) is same


# -- publish: the dry run's lines --------------------------------------------------------------


def test_a_dry_run_names_each_step(fake, client):
    present = fake.seed_image("team/app", "linux/amd64")
    elsewhere = fake.seed_image("team/src", "linux/arm64")
    already = fake.seed_image("team/src", "linux/s390x")
    fake.seed_image("team/app", "linux/s390x")
    entries = [
        entry_of(fake, "team/app", present),
        entry_of(fake, "team/src", elsewhere),
        entry_of(fake, "team/src", already),
    ]
    document = push_list_document(entries)
    target = ref(fake, "team/app:1.0")

    steps = plan_steps(client, target, entries, document, [target])

    at = f"{fake.host}/team/app@"
    src = f"{fake.host}/team/src@"
    assert steps == [
        f"check  {at}{present.digest} ({entries[0].label}): present",
        f"       mount  blob {elsewhere.config.digest} from team/src (copy if refused)",
        f"       mount  blob {elsewhere.layer.digest} from team/src (copy if refused)",
        f"put    {at}{elsewhere.digest} ({src}{elsewhere.digest}, "
        f"{len(elsewhere.manifest.data)} bytes)",
        f"skip   {at}{already.digest} ({src}{already.digest}): already in {fake.host}/team/app",
        f"put    {target} ({document.media_type}, {document.size} bytes, {document.digest})",
    ]
    never_pushed = make_image("linux/386")
    absent = entry_of(fake, "team/app", never_pushed)
    missing = plan_steps(client, target, [absent], document, [])
    assert missing == [
        f"check  {at}{never_pushed.digest} ({absent.label}): MISSING: the push would fail"
    ]


def push_list_document(entries):
    from manifestor.model.entries import list_document

    return list_document([e.descriptor for e in entries])


# -- upsert: options and budgets -----------------------------------------------------------


def test_upsert_into_a_list_reads_its_children_once_and_passes_its_options(fake, client):
    current = [fake.seed_image("team/app", p) for p in ("linux/amd64", "linux/arm/v7")]
    seed_list_of(fake, "team/app", "1.0", current)
    fresh = fake.seed_image("team/src", "linux/arm64")
    notes: list[str] = []
    fake.log.clear()

    result = upsert_list(
        client,
        ref(fake, "team/app:1.0"),
        [entry_of(fake, "team/src", fresh)],
        list_format="oci",
        notify=notes.append,
        policy=QUICK,
        sleep=lambda s: None,
    )

    assert result.media_type == OCI_INDEX
    assert notes == [f"Pushed ref {fake.host}/team/app@{fresh.digest} with digest: {fresh.digest}"]
    # The current children are read once (GET by digest) and never HEADed again to prove
    # they are present.
    for image in current:
        assert fake.count("GET", rf"/manifests/{image.digest}$") == 1
        assert fake.count("HEAD", rf"/manifests/{image.digest}$") == 0, summary(fake)


# -- verify: the report in full ----------------------------------------------------------------


def test_verify_report_as_json(fake, client):
    image = fake.seed_image("team/app", "linux/arm64")
    seed_list_of(fake, "team/app", "1.0", [image])

    report = verify_list(client, ref(fake, "team/app:1.0"))

    assert report.media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert report.to_json() == {
        "reference": f"{fake.host}/team/app:1.0",
        "digest": report.digest,
        "mediaType": report.media_type,
        "ok": True,
        "problems": [],
        "children": [
            {
                "digest": image.digest,
                "platform": "linux/arm64",
                "configPlatform": "linux/arm64",
                "attestation": False,
                "ok": True,
                "problems": [],
            }
        ],
    }


def test_verify_of_a_single_image_also_checks_the_expected_platforms(fake, client):
    fake.seed_image("team/app", "linux/amd64", tag="single")
    report = verify_list(
        client, ref(fake, "team/app:single"), expected=[parse_platform("linux/arm64")]
    )
    assert report.problems == (
        "not a list: a single image",
        "expected platform linux/arm64 is missing",
    )


def test_verify_does_not_read_an_attestations_config_and_keeps_its_claim(fake, client):
    amd64 = fake.seed_image("team/app", "linux/amd64")
    att = fake.seed_image("team/app", "unknown/unknown")
    # Its config is not in the repository: reading it would fail.
    with fake.store.lock:
        fake.store.repos["team/app"].blobs.discard(att.config.digest)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            amd64.descriptor(),
            {**att.descriptor(), "annotations": {ATTESTATION_SUBJECT_KEY: amd64.digest}},
        ],
    }
    fake.put_manifest("team/app", "1.0", json.dumps(doc).encode(), OCI_INDEX)

    report = verify_list(client, ref(fake, "team/app:1.0"), allow_attestations=True)

    assert report.ok, report.to_json()
    assert report.children[1].claimed == Platform("unknown", "unknown")
    assert report.children[1].digest == att.digest and report.children[1].attestation is True


def test_verify_names_a_child_whose_config_cannot_be_read(fake, client):
    image = fake.seed_image("team/app", "linux/amd64")
    with fake.store.lock:
        fake.store.repos["team/app"].blobs.discard(image.config.digest)
    seed_list_of(fake, "team/app", "1.0", [image])

    report = verify_list(client, ref(fake, "team/app:1.0"))

    (problem,) = report.children[0].problems
    assert problem.startswith(f"config of {image.digest}: ")


# -- auth details ---------------------------------------------------------------------------


def test_challenge_schemes_keep_every_character():
    (first, second) = parse_challenges(['X-Custom realm="a", XBearer realm="b"'])
    assert (first.scheme, second.scheme) == ("x-custom", "xbearer")


def test_scope_actions_are_written_pull_push_delete_then_others():
    scope = Scope("repository", "a", frozenset({"zz", "delete", "aa", "push", "pull"}))
    assert str(scope) == "repository:a:pull,push,delete,aa,zz"


@pytest.mark.parametrize("text", [":app:pull", "repository::pull", "repository", "a:b"])
def test_malformed_scopes_are_refused(text):
    with pytest.raises(AuthError):
        parse_scope(text)


def test_token_lifetime_counts_from_an_issued_at_in_the_past():
    payload = {"expires_in": 300, "issued_at": "1970-01-01T00:15:00Z"}  # 900
    assert token_expiry(payload, now=1000.0) == 1200.0
    assert token_expiry({"expires_in": 300}, now=1000.0) == 1300.0


def test_tokens_are_kept_apart_per_service(fake):
    fake.auth = _bearer()
    transport = Transport()
    cache = TokenCache()
    pull = [repository_scope("team/app", "pull")]
    try:
        values = [
            Authenticator(
                transport,
                fake.url,
                Challenge("bearer", {"realm": f"{fake.url}/token", "service": service}),
                Credential("alice", "alice-pw"),
                cache,
            ).authorization(pull)
            for service in ("one", "two")
        ]
    finally:
        transport.close()
    assert values[0] != values[1]
    assert fake.count("GET", r"^/token$") == 2


def test_a_bearer_challenge_without_realm_names_the_registry():
    transport = Transport()
    transport.close()
    with pytest.raises(AuthError) as caught:
        Authenticator(
            transport, "https://registry.example:5000", Challenge("bearer", {}), None, TokenCache()
        )
    assert str(caught.value) == (
        "registry registry.example:5000 sent a Bearer challenge without a realm"
    )


def test_the_token_field_wins_over_access_token(fake):
    fake.script(("GET", r"^/token$"), respond(200, '{"token": "A", "access_token": "B"}'))
    auth = _authenticator(fake, Credential("alice", "alice-pw"))
    assert auth.authorization([repository_scope("team/app", "pull")]) == "Bearer A"


def test_a_refresh_token_in_the_answer_replaces_the_one_held(fake):
    fake.auth = _bearer()
    renewed = fake.refresh_token("alice")
    first = fake.api.tokens.issue("alice", {"team/app": {"pull"}})
    fake.script(
        ("POST", r"^/token$"),
        respond(200, json.dumps({"token": first, "refresh_token": renewed})),
    )
    auth = _authenticator(fake, Credential("alice", identity_token="expired-refresh-token"))

    auth.authorization([repository_scope("team/app", "pull")])
    auth.authorization([repository_scope("team/other", "pull")])

    posts = fake.log.select("POST", r"^/token$")
    assert [p.status for p in posts] == [200, 200]
    assert fake.count("GET", r"^/token$") == 0


def _bearer():
    from fakereg import AuthConfig

    return AuthConfig("bearer", {"alice": "alice-pw"}, {"alice": [("*", ["pull", "push"])]})


def _authenticator(fake: FakeRegistry, credential: Credential) -> Authenticator:
    transport = Transport()
    challenge = Challenge("bearer", {"realm": f"{fake.url}/token", "service": "fakereg"})
    return Authenticator(transport, fake.url, challenge, credential, TokenCache())


def test_upsert_says_when_another_writer_rewrote_the_tag(fake, client):
    amd64 = fake.seed_image("team/app", "linux/amd64")
    seed_list_of(fake, "team/app", "1.0", [amd64])
    fresh = fake.seed_image("team/app", "linux/arm64")
    notes: list[str] = []
    rewrites = []

    def settle(seconds: float) -> None:
        if not rewrites:  # the other writer lands once, during the first settle wait
            rewrites.append(seed_list_of(fake, "team/app", "1.0", [amd64]))

    upsert_list(
        client,
        ref(fake, "team/app:1.0"),
        [entry_of(fake, "team/app", fresh)],
        notify=notes.append,
        policy=QUICK,
        sleep=settle,
    )

    target = f"{fake.host}/team/app:1.0"
    assert notes == [
        f"{target} was rewritten by another writer (attempt 1); merging again",
    ]
