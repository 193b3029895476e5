"""One test (or a few) per row of the §14 quirk table in
shared/reference/hosted-registries.md: the fake registry reproduces the documented reply,
the test pins what manifestor must do. Test names carry the row number. These simulate the
registries from their documentation and issue trackers; no live registry is involved.

New error types are reached through the module (`errors.TagImmutableError`), so on a
version without them only the tests that need them fail."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
from fakereg import AuthConfig, call, delay, fail, make_image, respond
from fakereg.images import OCI_INDEX, OCI_MANIFEST, Blob
from fakereg.personality import (
    ACR_LOCKED,
    ARTIFACTORY_IMMUTABLE,
    ECR_IMMUTABLE,
    HARBOR_IMMUTABLE,
    HUB_IMMUTABLE,
    QUAY_IMMUTABLE,
    ZERO_UUID_USER,
)
from hostedhelpers import PASSWORD, USER, bearer, hosted, with_quirks

import manifestor.errors as errors
import manifestor.ops.publish as publish
from manifestor.local.keychain import Keychain
from manifestor.model.entries import SourceFilter
from manifestor.model.oci import MANIFEST_MEDIA_TYPES
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.release import ReleaseOptions, publish_release
from manifestor.ops.verify import verify_list
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

SOURCES = ["src/app:1.0-amd64", "src/app:1.0-arm64"]
ECR_EXPIRED = "Your authorization token has expired. Reauthenticate and try again."


@pytest.fixture
def no_settle_wait(monkeypatch):
    monkeypatch.setattr(publish, "CHILD_SETTLE_DELAYS", (0.0, 0.0, 0.0), raising=False)


def _settle_attempts() -> int:
    return len(getattr(publish, "CHILD_SETTLE_DELAYS", ()))


def _drop_manifest(registry, repo: str, digest: str) -> None:
    with registry.store.lock:
        found = registry.store.repos[repo]
        del found.manifests[digest]


# -- rows 1-3: immutable tags ------------------------------------------------------------


def test_row1_identical_republish_to_immutable_ecr_tag_is_unchanged_without_a_put(tmp_path):
    with hosted(with_quirks("ecr", immutable=ECR_IMMUTABLE), tmp_path) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources()
        first = reg.publish("team/app:1.0", SOURCES)
        again = reg.publish("team/app:1.0", SOURCES)
        assert again.unchanged and again.digest == first.digest
        assert reg.tag_puts("team/app", "1.0") == 1
        heads = reg.registry.log.select("HEAD", r"/manifests/1\.0$")
        assert heads, "the tag is looked at before any PUT"
        for head in heads:
            assert set(head.headers["accept"].replace(" ", "").split(",")) == set(
                MANIFEST_MEDIA_TYPES
            )


IMMUTABLE_PROFILES = {
    "ecr": ECR_IMMUTABLE,
    "harbor": HARBOR_IMMUTABLE,
    "quay": QUAY_IMMUTABLE,
    "hub": HUB_IMMUTABLE,
    "acr": ACR_LOCKED,
    "artifactory": ARTIFACTORY_IMMUTABLE,
}


@pytest.mark.parametrize("name", sorted(IMMUTABLE_PROFILES))
def test_row1_2_changed_list_on_immutable_tag_is_one_clear_error_never_retried(name, tmp_path):
    profile = IMMUTABLE_PROFILES[name]
    with hosted(with_quirks(name, immutable=profile), tmp_path) as reg:
        if not reg.registry.personality.auto_create:
            reg.registry.create_repo("team/app")
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        with pytest.raises(errors.TagImmutableError) as caught:
            reg.publish("team/app:1.0", SOURCES[:1])
        message = str(caught.value)
        assert "tag 1.0 is immutable on this registry" in message
        assert profile.message.format(tag="1.0", repo="team/app") in message
        assert "\n" not in message
        assert caught.value.status == profile.status
        assert reg.tag_puts("team/app", "1.0") == 2  # the first push, then one refused PUT


def test_row1_upsert_onto_an_immutable_tag_stops_at_once(tmp_path):
    with hosted(with_quirks("ecr", immutable=ECR_IMMUTABLE), tmp_path) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources(platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7"))
        reg.publish("team/app:1.0", SOURCES)
        with pytest.raises(errors.TagImmutableError):
            reg.publish("team/app:1.0", ["src/app:1.0-armv7"], upsert=True)
        assert reg.tag_puts("team/app", "1.0") == 2


def test_row3_children_go_by_digest_and_each_tag_is_put_once(tmp_path):
    with hosted("ecr", tmp_path) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES, tags=("1", "latest"))
        for tag in ("1.0", "1", "latest"):
            assert reg.tag_puts("team/app", tag) == 1
        puts = reg.registry.log.select("PUT", r"/v2/team/app/manifests/")
        by_digest = [p for p in puts if "/manifests/sha256:" in p.path]
        assert len(by_digest) == 2 and len(puts) == 5


# -- rows 4-7: names and repositories -------------------------------------------------------


@pytest.mark.parametrize("name", ["ecr", "gar"])
def test_row4_5_missing_repository_is_named_with_what_to_do(name, tmp_path):
    with hosted(name, tmp_path) as reg:
        reg.seed_sources()
        with pytest.raises(errors.RepositoryNotFoundError) as caught:
            reg.publish("team/app:1.0", SOURCES)
        message = str(caught.value)
        assert "repository team/app does not exist" in message
        assert "create it first" in message and "\n" not in message
        assert reg.registry.tags("team/app") == {}
        # each write was refused once and not retried
        writes = reg.registry.log.select("POST") + reg.registry.log.select("PUT")
        assert writes and all(w.status == 404 for w in writes)
        keys = [(w.method, w.path, sorted(w.query.items())) for w in writes]
        assert len(keys) == len({repr(k) for k in keys})


class _NoNetwork(Transport):
    """A transport that must not be used: any request is a test failure."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def ping(self, host: str):  # type: ignore[override]
        self.calls.append(host)
        raise errors.TransportError(f"test: no request may be made (ping {host})")

    def request(self, method: str, url: str, **kwargs):  # type: ignore[override]
        self.calls.append(url)
        raise errors.TransportError(f"test: no request may be made ({method} {url})")


def test_row6_docker_hub_name_deeper_than_two_levels_is_refused_before_any_request(tmp_path):
    transport = _NoNetwork()
    keychain = Keychain(tmp_path / "none", environ={})
    with RegistryClient(keychain=keychain, transport=transport) as client:
        release = Release(
            parse_reference("docker.io/team/sub/app:1.0"),
            (SourceSpec("docker.io/team/sub/app:1.0-amd64"),),
        )
        with pytest.raises(errors.InvalidReferenceError, match="NAMESPACE/NAME"):
            publish_release(client, release, ReleaseOptions())
    assert transport.calls == []


def test_row6_deep_name_on_a_two_level_registry_is_a_missing_repository(tmp_path):
    with hosted("hub", tmp_path) as reg:
        reg.seed_sources()
        with pytest.raises(errors.RepositoryNotFoundError, match="team/sub/app does not exist"):
            reg.publish("team/sub/app:1.0", SOURCES)


def test_row7_gitlab_path_too_deep_says_so(tmp_path):
    with hosted("gitlab", tmp_path, auth=bearer(), username=USER, password=PASSWORD) as reg:
        reg.seed_sources()
        with pytest.raises(errors.DeniedError) as caught:
            reg.publish("group/proj/a/b:1.0", SOURCES)
        message = str(caught.value)
        assert "lacks pull permission on group/proj/a/b" in message
        assert "deeper than the registry allows" in message


# -- rows 8-11: list type, missing children, replication --------------------------------------


def test_row8_quay_refusing_the_list_type_gets_the_other_type_once(tmp_path):
    with hosted("quay", tmp_path) as reg:
        amd64 = reg.registry.seed_image("src/app", "linux/amd64", tag="1.0-amd64")
        reg.registry.seed_image("src/app", "linux/arm64/v8", tag="1.0-arm64", media="oci")
        notes: list[str] = []
        with pytest.raises(errors.ManifestInvalidError, match="is not one of"):
            reg.publish("team/app:1.0", SOURCES, notes=notes)
        # The index holds an OCI child, so no Docker list is tried instead: docker and
        # podman reject a Docker list of OCI manifests (issue 10), so it would not help.
        assert reg.tag_puts("team/app", "1.0") == 1
        assert not any("pushing it as" in n for n in notes)
        assert amd64.digest  # the children themselves were accepted by digest
        assert reg.registry.count("PUT", r"/manifests/sha256:", status=201) == 2


def test_row9_quay_with_oci_disabled_415_is_one_clear_error_for_an_oci_child(tmp_path):
    quirks = with_quirks("distribution", name="quay-oci-off", oci_disabled=True)
    with hosted(quirks, tmp_path) as reg:
        reg.registry.seed_image("team/app", "linux/amd64", tag="1.0-amd64")
        reg.registry.seed_image("team/app", "linux/arm64/v8", tag="1.0-arm64", media="oci")
        notes: list[str] = []
        with pytest.raises(errors.ManifestInvalidError, match="not supported"):
            reg.publish("team/app:1.0", ["team/app:1.0-amd64", "team/app:1.0-arm64"], notes=notes)
        # One refusal, no Docker list of an OCI child sent in its place.
        assert reg.registry.count("PUT", r"/manifests/1\.0$", status=415) == 1
        assert reg.tag_puts("team/app", "1.0") == 1
        assert not any("refused a list of type" in n for n in notes)


def test_row10_quay_missing_child_is_not_taken_for_a_type_problem(tmp_path):
    with hosted("quay", tmp_path) as reg:
        amd64, _ = reg.seed_sources()
        reg.registry.script(
            ("PUT", r"/v2/team/app/manifests/1\.0$"),
            call(lambda r: _drop_manifest(reg.registry, "team/app", amd64.digest)),
        )
        notes: list[str] = []
        with pytest.raises(errors.MissingChildError) as caught:
            reg.publish("team/app:1.0", SOURCES, notes=notes)
        assert f"child manifest {amd64.digest} not present in target repository" in str(
            caught.value
        )
        assert reg.tag_puts("team/app", "1.0") == 1
        assert not any("pushing it as" in n for n in notes)


def test_row10_distribution_missing_child_is_reported_after_a_bounded_wait(
    tmp_path, no_settle_wait
):
    with hosted("distribution", tmp_path) as reg:
        amd64, _ = reg.seed_sources()
        reg.registry.script(
            ("PUT", r"/v2/team/app/manifests/1\.0$"),
            call(lambda r: _drop_manifest(reg.registry, "team/app", amd64.digest)),
        )
        with pytest.raises(errors.MissingChildError, match="not present in target repository"):
            reg.publish("team/app:1.0", SOURCES)
        assert reg.tag_puts("team/app", "1.0") == 1 + _settle_attempts()


def test_row11_acr_transient_blob_unknown_after_children_is_retried(tmp_path, no_settle_wait):
    with hosted(with_quirks("acr", flaky_list_puts=2), tmp_path) as reg:
        reg.seed_sources()
        notes: list[str] = []
        result = reg.publish("team/app:1.0", SOURCES, notes=notes)
        assert reg.registry.tags("team/app")["1.0"] == result.digest
        assert reg.tag_puts("team/app", "1.0") == 3
        assert sum("does not see child manifest" in n for n in notes) == 2


def test_row11_acr_retry_is_bounded_and_names_the_regional_endpoint(tmp_path, no_settle_wait):
    with hosted(with_quirks("acr", flaky_list_puts=10), tmp_path) as reg:
        reg.seed_sources()
        with pytest.raises(errors.MissingChildError, match=r"geo\.azurecr\.io"):
            reg.publish("team/app:1.0", SOURCES)
        assert reg.tag_puts("team/app", "1.0") == 1 + _settle_attempts()


def test_row11_blob_unknown_on_a_child_manifest_is_not_retried(tmp_path, no_settle_wait):
    with hosted("acr", tmp_path) as reg:
        reg.seed_sources()
        reg.registry.script(
            ("PUT", r"/v2/team/app/manifests/sha256:"),
            fail(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry"),
        )
        with pytest.raises(errors.ManifestBlobUnknownError):
            reg.publish("team/app:1.0", SOURCES[:1])
        assert reg.registry.count("PUT", r"/v2/team/app/manifests/sha256:") == 1
        assert reg.tag_puts("team/app", "1.0") == 0


# -- rows 12-14: mounts -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["artifactory", "ecr-public"])
def test_row12_refused_mount_202_falls_back_to_a_copy(name, tmp_path):
    with hosted(name, tmp_path) as reg:
        images = reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        blobs = [b.digest for i in images for b in (i.config, i.layer)]
        assert all(reg.registry.blob_exists("team/app", d) for d in blobs)
        mounts = [e for e in reg.registry.log.select("POST") if "mount" in e.query]
        assert len(mounts) == len(blobs) and all(m.status == 202 for m in mounts)
        assert all(m.query.get("from") == ["src/app"] for m in mounts)
        assert reg.registry.uploads_open() == 0  # the session a 202 opened was cancelled


def test_row13_harbor_401_on_mount_from_missing_project_falls_back_to_a_copy(tmp_path):
    with hosted("harbor", tmp_path, auth=bearer(), username=USER, password=PASSWORD) as reg:
        images = reg.seed_sources()
        reg.registry.script(
            lambda r: r.method == "POST" and r.arg("mount") is not None,
            fail(401, "UNAUTHORIZED", "project src not found"),
            times=None,
        )
        reg.publish("team/app:1.0", SOURCES)
        blobs = [b.digest for i in images for b in (i.config, i.layer)]
        assert all(reg.registry.blob_exists("team/app", d) for d in blobs)
        mounts = [e for e in reg.registry.log.select("POST") if "mount" in e.query]
        assert len(mounts) <= 2 * len(blobs)  # one re-authentication at most, no loop


@pytest.mark.parametrize(
    "status, code", [(400, "UNSUPPORTED"), (404, "BLOB_UNKNOWN"), (405, "UNSUPPORTED")]
)
def test_row12_mount_refused_in_any_words_falls_back_to_a_copy(status, code, tmp_path):
    with hosted("distribution", tmp_path) as reg:
        images = reg.seed_sources()
        reg.registry.script(
            lambda r: r.method == "POST" and r.arg("mount") is not None,
            fail(status, code, "mount refused"),
            times=None,
        )
        reg.publish("team/app:1.0", SOURCES)
        blobs = [b.digest for i in images for b in (i.config, i.layer)]
        assert all(reg.registry.blob_exists("team/app", d) for d in blobs)


def test_row14_token_server_keeping_only_the_last_scope_still_pushes(tmp_path):
    quirks = with_quirks("gitlab", token_last_scope_only=True)
    with hosted(quirks, tmp_path, auth=bearer(), username=USER, password=PASSWORD) as reg:
        images = reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        blobs = [b.digest for i in images for b in (i.config, i.layer)]
        assert all(reg.registry.blob_exists("team/app", d) for d in blobs)


# -- rows 15-18: rate limits --------------------------------------------------------------------


def test_row15_hub_pull_limit_is_not_retried_and_is_explained(tmp_path):
    quirks = with_quirks("hub", rate_limit="hub_pull", rate_limit_after=1)
    with hosted(quirks, tmp_path) as reg:
        reg.seed_sources()
        reg.registry.seed_list("team/app", "1.0", [make_image("linux/amd64")])
        reg.registry.seed_image("team/app", "linux/amd64")
        # the first GET is within the quota; the child's GET is refused (verify reports it)
        report = verify_list(reg.client, reg.ref("team/app:1.0"))
        assert not report.ok and "rate limited" in report.children[0].problems[0]
        with pytest.raises(errors.TooManyRequestsError) as caught:
            verify_list(reg.client, reg.ref("team/app:1.0"))
        message = str(caught.value)
        assert "0 of 1 requests left" in message and "window 21600 s" in message
        assert "counted for 127.0.0.1" in message and "log in" in message
        # a quota that refills over hours is not retried: one 429 per request made
        assert reg.registry.count("GET", r"/manifests/", status=429) == 2
        assert reg.sleeps.waits == []
        assert any("rate limit hit" in n for n in reg.notices)


def test_row15_hub_quota_near_its_end_is_told_once(tmp_path, monkeypatch):
    import fakereg.manifests

    monkeypatch.setattr(fakereg.manifests, "HUB_LIMIT", 12)
    with hosted("hub", tmp_path) as reg:
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        verify_list(reg.client, reg.ref("team/app:1.0"))
        assert len(reg.notices) == 1
        assert "rate limit near" in reg.notices[0]
        assert "of 12 requests left (window 21600 s, counted for 127.0.0.1)" in reg.notices[0]


HAP429 = respond(
    429, "Too Many Requests (HAP429).\n", [("Content-Type", "text/plain"), ("Retry-After", "60")]
)


def test_row16_hub_abuse_limit_text_429_honours_retry_after(tmp_path):
    with hosted("hub", tmp_path) as reg:
        reg.seed_sources()
        reg.registry.script(("GET", r"/manifests/"), HAP429)
        reg.publish("team/app:1.0", SOURCES)
        assert reg.sleeps.waits == [60.0]


def test_row16_persistent_hub_abuse_limit_is_reported_in_its_own_words(tmp_path):
    # Limited from the first request on (no ping comes first: no credentials are set).
    quirks = with_quirks("hub", rate_limit="hub_abuse", rate_limit_after=0)
    with hosted(quirks, tmp_path) as reg:
        with pytest.raises(errors.TooManyRequestsError) as caught:
            verify_list(reg.client, reg.ref("team/app:1.0"))
        message = str(caught.value)
        assert "Too Many Requests (HAP429)" in message
        assert "asked to wait 60 s" in message
        assert reg.sleeps.waits == [60.0, 60.0, 60.0]


def test_row17_ghcr_wait_written_in_the_message_is_honoured(tmp_path):
    with hosted("ghcr", tmp_path, retry=RetryPolicy()) as reg:
        reg.seed_sources()
        reg.registry.script(
            ("PUT", r"/manifests/1\.0$"),
            fail(429, "TOOMANYREQUESTS", "retry-after: 12.5ms, allowed: 2000/minute"),
        )
        reg.publish("team/app:1.0", SOURCES)
        assert reg.sleeps.waits == [pytest.approx(0.0125)]


def test_row17_ghcr_secondary_rate_limit_403_is_retried(tmp_path):
    with hosted("ghcr", tmp_path) as reg:
        reg.seed_sources()
        reg.registry.script(
            ("PUT", r"/manifests/1\.0$"),
            fail(403, "DENIED", "You have exceeded a secondary rate limit"),
        )
        result = reg.publish("team/app:1.0", SOURCES)
        assert reg.registry.tags("team/app")["1.0"] == result.digest
        assert len(reg.sleeps.waits) == 1


@pytest.mark.integration  # real waiting: the fake's PUT rate limit is per second of real time
def test_row18_ecr_put_throttling_without_retry_after_is_backed_off(tmp_path):
    quirks = with_quirks("ecr", put_rate_per_second=2)
    retry = RetryPolicy(attempts=6, backoff=0.3, max_backoff=1.0)
    with hosted(quirks, tmp_path, retry=retry, real_sleep=True) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources()
        result = reg.publish("team/app:1.0", SOURCES, tags=("latest",))
        assert reg.registry.tags("team/app")["latest"] == result.digest
        assert reg.registry.count("PUT", r"/manifests/", status=429) >= 1


# -- rows 19, 31-34: credentials and tokens -----------------------------------------------------


def test_row19_bearer_token_expiring_mid_run_is_renewed(tmp_path):
    quirks = with_quirks("gitlab", token_max_uses=3)
    with hosted(quirks, tmp_path, auth=bearer(), username=USER, password=PASSWORD) as reg:
        reg.seed_sources()
        result = reg.publish("team/app:1.0", SOURCES)
        assert reg.registry.tags("team/app")["1.0"] == result.digest
        assert reg.registry.count(None, r"/v2/", status=401) >= 1


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_row19_ecr_password_expiring_mid_run_is_read_again_once(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("pw-1")
    runs = tmp_path / "runs"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-ecrfake"
    helper.write_text(
        "#!/bin/sh\ncat >/dev/null\n"
        f"echo run >> '{runs}'\n"
        f'printf \'{{"ServerURL":"ecr","Username":"AWS","Secret":"%s"}}\' "$(cat \'{secret}\')"\n'
    )
    helper.chmod(0o755)
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "ecrfake"}))
    keychain = Keychain(config, environ={"PATH": f"{bin_dir}:{os.defpath}"})
    auth = AuthConfig("basic", {"AWS": "pw-1"})
    with hosted("ecr", tmp_path, auth=auth, keychain=keychain) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES[:1])
        # Twelve hours later: the old password has expired and a new one is issued.
        reg.registry.auth = AuthConfig("basic", {"AWS": "pw-2"})
        secret.write_text("pw-2")
        reg.registry.script(
            lambda r: r.headers.get("authorization") == _basic("AWS", "pw-1"),
            fail(403, "DENIED", ECR_EXPIRED),
            times=None,
        )
        result = reg.publish("team/app:1.0", SOURCES)
        assert reg.registry.tags("team/app")["1.0"] == result.digest
        assert runs.read_text().count("run") == 2


def test_row32_acr_refresh_token_login_with_the_zero_uuid_user(tmp_path):
    with hosted("acr", tmp_path, auth=bearer()) as probe:
        refresh = probe.registry.refresh_token(USER)
        keychain = Keychain(
            tmp_path / "none", username=ZERO_UUID_USER, password=refresh, environ={}
        )
        client = RegistryClient(keychain=keychain)
        with client:
            assert client.check_credentials(probe.host) == "bearer"
            probe.seed_sources()
            release = probe.release("team/app:1.0", SOURCES)
            result = publish_release(client, release, ReleaseOptions())
        assert probe.registry.tags("team/app")["1.0"] == result.digest
        assert probe.registry.count("POST", r"^/token$", status=200) >= 1


def test_row31_stale_credentials_do_not_break_a_public_read(tmp_path):
    auth = bearer(alice="new-password")
    with hosted("ecr-public", tmp_path, auth=auth, username=USER, password="stale") as reg:
        reg.registry.seed_list(
            "public/app", "1.0", [reg.registry.seed_image("public/app", "linux/amd64")]
        )
        report = verify_list(reg.client, reg.ref("public/app:1.0"))
        assert report.ok, report.to_json()
        v2 = reg.registry.log.select(None, r"^/v2/.+")
        assert not any(e.headers.get("authorization", "").startswith("Basic") for e in v2)


def test_row33_quay_silent_down_scoping_reports_missing_push_permission(tmp_path):
    quirks = with_quirks("quay", drop_push_for=frozenset({"carol"}))
    auth = bearer(carol="carol-pw")
    with hosted(quirks, tmp_path, auth=auth, username="carol", password="carol-pw") as reg:
        reg.seed_sources()
        with pytest.raises(errors.DeniedError) as caught:
            reg.publish("team/app:1.0", SOURCES)
        assert "carol lacks push permission on team/app" in str(caught.value)
        refused = [e for e in reg.registry.log.select(status=401) if e.method in ("POST", "PUT")]
        mounts = [repr(sorted(e.query.items())) for e in refused if e.query]
        uploads = [e for e in refused if not e.query]
        # each write earned one fresh token at most, then the error: no loop
        assert max(mounts.count(k) for k in mounts) <= 2
        # at most two tries per blob (a config and a layer per source, copied concurrently)
        assert 0 < len(uploads) <= 2 * 2 * len(SOURCES)


def test_row34_ghcr_private_new_package_is_read_back_with_the_push_credentials(tmp_path):
    with hosted("ghcr", tmp_path, auth=bearer(), username=USER, password=PASSWORD) as reg:
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        tokens = reg.registry.log.select("GET", r"^/token$")
        assert tokens and all(t.headers.get("authorization") for t in tokens)
        anonymous = RegistryClient(keychain=Keychain(tmp_path / "none", environ={}))
        with anonymous, pytest.raises(errors.AuthError, match="log in"):
            verify_list(anonymous, reg.ref("team/app:1.0"))


# -- rows 20-27: wire details ----------------------------------------------------------------


def test_row20_ecr_without_digest_headers_works_from_the_bodies(tmp_path):
    with hosted(with_quirks("ecr", digest_on_head=False), tmp_path) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources()
        first = reg.publish("team/app:1.0", SOURCES)
        assert reg.publish("team/app:1.0", SOURCES).unchanged
        report = verify_list(reg.client, reg.ref("team/app:1.0"))
        assert report.ok and report.digest == first.digest


def test_row21_22_23_manifest_accept_only_on_manifest_calls(tmp_path):
    with hosted("artifactory", tmp_path) as reg:
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        verify_list(reg.client, reg.ref("team/app:1.0"))
        for entry in reg.registry.log.select(None, r"/manifests/"):
            if entry.method in ("GET", "HEAD"):
                accepted = set(entry.headers["accept"].replace(" ", "").split(","))
                assert accepted == set(MANIFEST_MEDIA_TYPES)
        for entry in reg.registry.log.select(None, r"/blobs/"):
            assert entry.headers.get("accept", "*/*") == "*/*"
            assert entry.status != 406


def test_row23_artifactory_status_shaped_error_bodies_are_understood(tmp_path):
    with hosted(with_quirks("artifactory", auto_create=False), tmp_path) as reg:
        reg.seed_sources()
        with pytest.raises(errors.RepositoryNotFoundError, match="team/app does not exist"):
            reg.publish("team/app:1.0", SOURCES)


def test_row24_ecr_blob_redirect_gets_no_authorization(tmp_path):
    auth = AuthConfig("basic", {"AWS": PASSWORD})
    with hosted("ecr", tmp_path, auth=auth, username="AWS", password=PASSWORD) as reg:
        reg.registry.create_repo("team/app")
        reg.seed_sources()
        reg.publish("team/app:1.0", SOURCES)
        assert verify_list(reg.client, reg.ref("team/app:1.0")).ok
        fetched = reg.registry.presign_log.select("GET")
        assert fetched and all(e.status == 200 for e in fetched)
        assert not any("authorization" in e.headers for e in fetched)


def test_row24_expired_presigned_url_is_asked_for_again(tmp_path):
    with hosted(with_quirks("ecr", presign_ttl=0.2), tmp_path) as reg:
        (image,) = reg.seed_sources(platforms=("linux/amd64",))
        reg.registry.script(("GET", r"/blobs/sha256:"), call(lambda r: time.sleep(0.4), after=True))
        data = reg.client.get_blob(reg.ref("src/app"), image.config.digest)
        assert data == image.config.data
        assert [e.status for e in reg.registry.presign_log.select("GET")] == [403, 200]


@pytest.mark.parametrize("name", ["ecr", "quay"])
def test_row25_26_uploads_are_monolithic(name, tmp_path):
    with hosted(name, tmp_path) as reg:
        reg.registry.create_repo("other/app")
        images = reg.seed_sources()
        reg.publish("other/app:1.0", SOURCES)
        # across repositories that refuse to mount, blobs are uploaded in one PUT each
        reg.registry.personality = with_quirks(name, mount_mode="never")
        reg.registry.create_repo("third/app")
        reg.publish("third/app:1.0", SOURCES)
        assert reg.registry.count("PATCH") == 0
        assert all(reg.registry.blob_exists("third/app", i.layer.digest) for i in images)


def test_row27_oversized_list_is_refused_before_any_write(tmp_path):
    with hosted("acr", tmp_path) as reg:
        reg.seed_sources()
        with pytest.raises(errors.ManifestTooLargeError):
            reg.publish("team/app:1.0", SOURCES, annotations={"big": "x" * (4 * 1024 * 1024)})
        assert reg.registry.count("PUT") == 0 and reg.registry.count("POST") == 0


# -- rows 28-30, 35: attestations, subjects, media types ----------------------------------------


def _buildx_index(registry, repo: str, tag: str):
    """An OCI index as buildx pushes it: an image and its attestation manifest, whose
    `subject` is the image (BuildKit >= 0.32)."""
    image = make_image("linux/amd64", "oci")
    for blob in (image.config, image.layer):
        registry.put_blob(repo, blob.data)
    registry.put_manifest(repo, image.digest, image.manifest.data, OCI_MANIFEST)
    config = Blob("application/vnd.oci.image.config.v1+json", b"{}")
    statement = Blob("application/vnd.in-toto+json", b'{"_type":"statement"}')
    for blob in (config, statement):
        registry.put_blob(repo, blob.data)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [statement.descriptor()],
        "subject": image.manifest.descriptor(),
    }
    attestation = Blob(OCI_MANIFEST, json.dumps(doc).encode())
    registry.put_manifest(repo, attestation.digest, attestation.data, OCI_MANIFEST)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            image.descriptor(),
            attestation.descriptor(
                platform={"architecture": "unknown", "os": "unknown"},
                annotations={
                    "vnd.docker.reference.type": "attestation-manifest",
                    "vnd.docker.reference.digest": image.digest,
                },
            ),
        ],
    }
    registry.put_manifest(repo, tag, json.dumps(index).encode(), OCI_INDEX)
    return image, attestation


def test_row28_gitlab_subject_is_pushed_before_the_manifest_referring_to_it(tmp_path):
    with hosted("gitlab", tmp_path) as reg:
        image, attestation = _buildx_index(reg.registry, "src/app", "1.0")
        # The image's PUT is slow: a client pushing both at once sends the attestation first.
        reg.registry.script(("PUT", rf"/v2/team/app/manifests/{image.digest}$"), delay(0.5))
        release = reg.release("team/app:1.0", ["src/app:1.0"])
        options = ReleaseOptions(selection=SourceFilter(keep_attestations=True))
        result = publish_release(reg.client, release, options)
        assert reg.list_children("team/app", "1.0") == [image.digest, attestation.digest]
        assert result.digest == reg.registry.tags("team/app")["1.0"]
        puts = [e.path for e in reg.registry.log.select("PUT", r"/manifests/sha256:")]
        assert puts.index(f"/v2/team/app/manifests/{image.digest}") < puts.index(
            f"/v2/team/app/manifests/{attestation.digest}"
        )


def test_row29_gitlab_unknown_config_type_is_passed_through_not_retried(tmp_path):
    with hosted("gitlab", tmp_path) as reg:
        image = make_image("linux/amd64", "oci")
        for blob in (image.config, image.layer):
            reg.registry.put_blob("src/app", blob.data)
        doc = json.loads(image.manifest.data)
        doc["config"]["mediaType"] = "application/vnd.sh.ocx.package.v1"
        odd = Blob(OCI_MANIFEST, json.dumps(doc).encode())
        reg.registry.put_manifest("src/app", "1.0-amd64", odd.data, OCI_MANIFEST)
        release = reg.release("team/app:1.0", ["src/app:1.0-amd64"])
        release = Release(
            release.target,
            (SourceSpec(f"{reg.host}/src/app:1.0-amd64", platform=None),),
        )
        with pytest.raises(errors.ManifestorError) as caught:
            publish_release(reg.client, release, ReleaseOptions())
        assert "unknown media type: application/vnd.sh.ocx.package.v1" in str(caught.value)
        assert reg.registry.count("PUT", r"/v2/team/app/manifests/") <= 1


def test_row30_attestation_entries_are_dropped_by_default(tmp_path):
    with hosted("hub", tmp_path) as reg:
        image, _ = _buildx_index(reg.registry, "src/app", "1.0")
        result = reg.publish("team/app:1.0", ["src/app:1.0"])
        assert reg.list_children("team/app", "1.0") == [image.digest]
        assert result.media_type == OCI_INDEX
        assert reg.registry.count("GET", r"/referrers/") == 0


def test_row35_zot_tag_type_lock_says_to_delete_the_tag(tmp_path):
    with hosted("zot", tmp_path) as reg:
        reg.seed_sources()
        reg.registry.seed_image("team/app", "linux/amd64", tag="1.0", media="oci")
        with pytest.raises(errors.ManifestInvalidError) as caught:
            reg.publish("team/app:1.0", SOURCES)
        message = str(caught.value)
        assert "cannot change the media type of tag 1.0" in message
        assert "delete the tag first" in message
