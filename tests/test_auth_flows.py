"""Authentication as flows, fast: manifestor's client and Authenticator against the scripted
in-process registry and its token endpoint (tests/fakereg). Token reuse and refresh,
insufficient_scope, the OAuth2 POST and its GET fallback, the realm checks, Basic, a
registry token, and a challenge that only comes after an anonymous ping. The same flows
run against real registries in test_client_auth.py (integration)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakereg import PERSONALITIES, AuthConfig, FakeRegistry, make_image, respond
from fakereg.personality import ZERO_UUID_USER
from logichelpers import FAST_RETRY, FixedKeychain, fake_client, ref, summary

from manifestor.errors import AuthError, ManifestorError, UnauthorizedError
from manifestor.local.keychain import Credential
from manifestor.model.oci import parse_manifest
from manifestor.remote.auth import (
    MIN_TOKEN_LIFETIME,
    TOKEN_EXPIRY_MARGIN,
    Authenticator,
    Challenge,
    TokenCache,
    repository_scope,
)
from manifestor.remote.client import RegistryClient
from manifestor.remote.transport import Transport

USERS = {"alice": "alice-pw", "reader": "reader-pw"}
GRANTS = {"alice": [("*", ["pull", "push"])], "reader": [("*", ["pull"])]}
BEARER = AuthConfig("bearer", USERS, GRANTS, anonymous=[("public/*", ["pull"])])
BASIC = AuthConfig("basic", USERS, GRANTS)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry(auth=BEARER) as registry:
        registry.seed_image("team/app", "linux/amd64", tag="1.0")
        registry.seed_image("public/app", "linux/amd64", tag="1.0")
        yield registry


def token_requests(fake: FakeRegistry, method: str | None = None) -> list:
    return fake.log.select(method, r"^/token$")


def token_scopes(entry) -> list[str]:
    return entry.query.get("scope", [])


def _client(tmp_path: Path, credential: Credential | None) -> RegistryClient:
    transport = Transport(retry=FAST_RETRY, sleep=lambda seconds: None)
    return RegistryClient(keychain=FixedKeychain(tmp_path, credential), transport=transport)


# -- bearer tokens: fetched once per scope set, reused, renewed ----------------------------


def test_one_token_serves_every_pull_of_a_repository(fake, tmp_path):
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        for _ in range(3):
            client.get_manifest(ref(fake, "team/app:1.0"))
            client.head_manifest(ref(fake, "team/app:1.0"))

    (fetch,) = token_requests(fake)
    assert fetch.method == "GET"
    assert token_scopes(fetch) == ["repository:team/app:pull"]
    assert fetch.query["service"] == ["fakereg"] and fetch.query["account"] == ["alice"]
    assert fake.count(status=401) == 1, summary(fake)  # the ping, nothing after it


def test_a_push_token_is_fetched_with_pull_and_push_and_covers_later_pulls(fake, tmp_path):
    image = make_image("linux/arm64")
    manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
    for blob in (image.config, image.layer):
        fake.put_blob("team/app", blob.data)
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        client.put_manifest(ref(fake, "team/app:2.0"), manifest)
        client.get_manifest(ref(fake, "team/app:2.0"))

    (fetch,) = token_requests(fake)
    assert token_scopes(fetch) == ["repository:team/app:pull,push"]
    assert fake.tags("team/app")["2.0"] == image.digest


def test_anonymous_pull_gets_a_token_without_credentials(fake, tmp_path):
    with fake_client(tmp_path) as client:
        client.get_manifest(ref(fake, "public/app:1.0"))
        with pytest.raises(UnauthorizedError):
            client.get_manifest(ref(fake, "team/app:1.0"))

    fetches = token_requests(fake)
    assert all("authorization" not in f.headers and "account" not in f.query for f in fetches)


def test_a_token_the_registry_calls_expired_is_replaced_once_and_the_request_repeated(tmp_path):
    quirks = dataclasses.replace(PERSONALITIES["distribution"], token_max_uses=2)
    with FakeRegistry(quirks, auth=BEARER) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        with fake_client(tmp_path, username="alice", password="alice-pw") as client:
            for _ in range(5):
                client.head_manifest(ref(fake, "team/app:1.0"))

        # Uses 1-2 on the first token, 3rd refused: a new token for the 3rd to 5th... and
        # its own limit of 2 means one more renewal. Never the same token after a refusal.
        assert len(token_requests(fake)) == 3, summary(fake)
        heads = fake.log.select("HEAD")
        assert [h.status for h in heads] == [200, 200, 401, 200, 200, 401, 200]
        refused = [h.headers["authorization"] for h in heads if h.status == 401]
        assert len(set(refused)) == 2


def test_cached_tokens_are_renewed_a_margin_before_they_expire(fake):
    now = [1_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    challenge = Challenge("bearer", {"realm": f"{fake.url}/token", "service": "fakereg"})
    transport = Transport()
    auth = Authenticator(
        transport,
        fake.url,
        challenge,
        Credential("alice", "alice-pw"),
        TokenCache(clock=clock),
        clock=clock,
    )
    pull = [repository_scope("team/app", "pull")]
    try:
        first = auth.authorization(pull)
        # The fake says expires_in 300 and issued_at (wall clock) that is not ours: the
        # lifetime counts from our clock.
        now[0] += 300 - TOKEN_EXPIRY_MARGIN - 0.5
        assert auth.authorization(pull) == first
        now[0] += 1.0
        second = auth.authorization(pull)
    finally:
        transport.close()

    assert second != first
    assert len(token_requests(fake)) == 2
    assert MIN_TOKEN_LIFETIME == 60.0


# -- insufficient_scope ---------------------------------------------------------------------


def _insufficient(fake: FakeRegistry, scope: str) -> respond:
    challenge = (
        f'Bearer realm="{fake.url}/token",service="fakereg",scope="{scope}",'
        'error="insufficient_scope"'
    )
    return respond(401, '{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", challenge)])


def test_insufficient_scope_earns_one_token_with_the_scope_the_challenge_names(fake, tmp_path):
    fake.script(("GET", r"/manifests/1\.0$"), _insufficient(fake, "repository:other/lib:pull"))
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        client.get_manifest(ref(fake, "team/app:1.0"))

    first, second = token_requests(fake)
    assert token_scopes(first) == ["repository:team/app:pull"]
    assert sorted(token_scopes(second)) == ["repository:other/lib:pull", "repository:team/app:pull"]


def test_insufficient_scope_twice_is_an_error_not_a_loop(fake, tmp_path):
    fake.script(
        ("GET", r"/manifests/1\.0$"), _insufficient(fake, "repository:team/app:pull"), times=None
    )
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        with pytest.raises(
            ManifestorError, match="access denied: user alice lacks pull permission"
        ) as caught:
            client.get_manifest(ref(fake, "team/app:1.0"))

    assert "\n" not in str(caught.value)
    assert fake.count("GET", r"/manifests/") == 2
    assert len(token_requests(fake)) == 2


def test_a_registry_that_downscopes_push_is_refused_with_a_clear_error(tmp_path):
    quirks = dataclasses.replace(PERSONALITIES["quay"], drop_push_for=frozenset({"alice"}))
    image = make_image("linux/arm64")
    manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
    with FakeRegistry(quirks, auth=BEARER) as fake:
        for blob in (image.config, image.layer):
            fake.put_blob("team/app", blob.data)
        with fake_client(tmp_path, username="alice", password="alice-pw") as client:
            with pytest.raises(ManifestorError) as caught:
                client.put_manifest(ref(fake, "team/app:2.0"), manifest)
        assert fake.tags("team/app") == {}
        assert fake.count("PUT") == 2  # the first try and one re-auth, no more
    assert "team/app" in str(caught.value)


# -- OAuth2: identity tokens -----------------------------------------------------------------


def test_an_identity_token_is_exchanged_with_an_oauth2_post(fake, tmp_path):
    refresh = fake.refresh_token("alice")
    credential = Credential(username="alice", identity_token=refresh)
    with _client(tmp_path, credential) as client:
        client.get_manifest(ref(fake, "team/app:1.0"))

    (post,) = token_requests(fake)
    assert post.method == "POST" and post.status == 200
    assert token_scopes(post) == []  # the form is in the body, not the query
    assert "authorization" not in post.headers


def test_the_zero_uuid_user_with_a_refresh_token_logs_in_over_post_only(tmp_path):
    with FakeRegistry(PERSONALITIES["acr"], auth=BEARER) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        credential = Credential(username=ZERO_UUID_USER, identity_token=fake.refresh_token("alice"))
        with _client(tmp_path, credential) as client:
            client.get_manifest(ref(fake, "team/app:1.0"))
        assert [(t.method, t.status) for t in token_requests(fake)] == [("POST", 200)]


def test_a_refused_oauth2_post_falls_back_to_a_get_with_basic_credentials(tmp_path):
    with FakeRegistry(PERSONALITIES["artifactory"], auth=BEARER) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        credential = Credential("alice", "alice-pw", identity_token="not-a-real-refresh-token")
        with _client(tmp_path, credential) as client:
            client.get_manifest(ref(fake, "team/app:1.0"))
        post, get = token_requests(fake)
    assert (post.method, post.status) == ("POST", 401)
    assert (get.method, get.status) == ("GET", 200)
    assert get.query["account"] == ["alice"] and get.headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize("status", [400, 404, 405])
def test_other_refusals_of_the_post_fall_back_to_get_too(fake, tmp_path, status):
    fake.script(("POST", r"^/token$"), respond(status, "no"))
    credential = Credential("alice", "alice-pw", identity_token=fake.refresh_token("alice"))
    with _client(tmp_path, credential) as client:
        client.get_manifest(ref(fake, "team/app:1.0"))
    assert [(t.method, t.status) for t in token_requests(fake)] == [("POST", status), ("GET", 200)]


def test_a_post_that_fails_otherwise_is_an_auth_error(fake, tmp_path):
    fake.script(("POST", r"^/token$"), respond(500, "broken"), times=None)
    credential = Credential("alice", "alice-pw", identity_token=fake.refresh_token("alice"))
    with _client(tmp_path, credential) as client:
        with pytest.raises(AuthError, match="answered HTTP 500"):
            client.get_manifest(ref(fake, "team/app:1.0"))


# -- token endpoint answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (respond(200, "not json"), "not JSON"),
        (respond(200, "[1, 2]"), "not a JSON object"),
        (respond(200, '{"expires_in": 300}'), "returned no token"),
        (respond(401, "{}"), "rejected the credentials"),
    ],
    ids=["not-json", "not-object", "no-token", "refused"],
)
def test_bad_token_answers_are_one_line_auth_errors(fake, tmp_path, answer, message):
    fake.script(("GET", r"^/token$"), answer)
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        with pytest.raises(AuthError, match=message) as caught:
            client.get_manifest(ref(fake, "team/app:1.0"))
    assert "\n" not in str(caught.value)


def test_an_anonymous_token_refused_says_log_in(fake, tmp_path):
    with fake_client(tmp_path) as client:
        fake.script(("GET", r"^/token$"), respond(403, "{}"))
        with pytest.raises(AuthError, match="refused an anonymous token.*log in"):
            client.get_manifest(ref(fake, "public/app:1.0"))


def test_an_access_token_only_answer_is_accepted(tmp_path):
    with FakeRegistry(PERSONALITIES["acr"], auth=BEARER) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        with fake_client(tmp_path, username="alice", password="alice-pw") as client:
            client.get_manifest(ref(fake, "team/app:1.0"))
        assert [(t.method, t.status) for t in token_requests(fake)] == [("GET", 200)]


# -- realm checks -----------------------------------------------------------------------------


def _authenticator(registry_url: str, params: dict[str, str]) -> Authenticator:
    # The realm is checked on construction; the transport is never used.
    transport = Transport()
    transport.close()
    return Authenticator(transport, registry_url, Challenge("bearer", params), None, TokenCache())


@pytest.mark.parametrize(
    ("registry_url", "realm", "message"),
    [
        ("https://registry.example", None, "without a realm"),
        ("https://registry.example", "", "without a realm"),
        ("https://registry.example", "http://auth.example/token", "plain-HTTP token realm"),
        ("https://registry.example", "ftp://auth.example/token", "not an http"),
        ("https://registry.example", "https://10.0.0.7/token", "internal address"),
        ("https://registry.example", "https://127.0.0.1/token", "internal address"),
        ("https://registry.example", "https://[fe80::1]/token", "internal address"),
        ("https://registry.example", "https://169.254.169.254/latest", "internal address"),
    ],
)
def test_a_realm_we_must_not_send_credentials_to_is_refused(registry_url, realm, message):
    params = {} if realm is None else {"realm": realm}
    with pytest.raises(AuthError, match=message):
        _authenticator(registry_url, params)


@pytest.mark.parametrize(
    ("registry_url", "realm", "expected"),
    [
        ("https://registry.example", "/token", "https://registry.example/token"),
        ("https://registry.example", "https://auth.example/t?a=1", "https://auth.example/t?a=1"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001/token", "http://127.0.0.1:5001/token"),
        ("http://localhost:5000", "http://10.1.2.3/token", "http://10.1.2.3/token"),
        ("https://10.1.2.3", "https://10.1.2.4/token", "https://10.1.2.4/token"),
    ],
)
def test_acceptable_realms_are_resolved_against_the_registry(registry_url, realm, expected):
    assert _authenticator(registry_url, {"realm": realm}).realm == expected


def test_a_realm_with_a_query_gets_the_scope_appended(fake, tmp_path):
    fake.script(
        ("GET", r"^/v2/$"),
        respond(
            401,
            "{}",
            [("WWW-Authenticate", f'Bearer realm="{fake.url}/token?tenant=x",service="fakereg"')],
        ),
    )
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        client.get_manifest(ref(fake, "team/app:1.0"))
    (fetch,) = token_requests(fake)
    assert fetch.query["tenant"] == ["x"] and token_scopes(fetch) == ["repository:team/app:pull"]


def test_a_bad_realm_in_the_ping_fails_before_any_credential_is_sent(fake, tmp_path):
    fake.script(
        ("GET", r"^/v2/$"), respond(401, "{}", [("WWW-Authenticate", 'Bearer realm="ftp://x/t"')])
    )
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        with pytest.raises(AuthError, match="not an http"):
            client.get_manifest(ref(fake, "team/app:1.0"))
    assert token_requests(fake) == []
    assert all("authorization" not in e.headers for e in fake.log.entries)


# -- Basic, registry tokens, late challenges --------------------------------------------------


def test_basic_credentials_go_to_the_registry_and_no_token_is_fetched(tmp_path):
    with FakeRegistry(auth=BASIC) as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        with fake_client(tmp_path, username="reader", password="reader-pw") as client:
            client.get_manifest(ref(fake, "team/app:1.0"))
            assert client.check_credentials(fake.host) == "basic"
        with fake_client(tmp_path / "2", username="reader", password="wrong") as client:
            with pytest.raises(UnauthorizedError, match="rejected the credentials"):
                client.check_credentials(fake.host)
        assert token_requests(fake) == []
        gets = fake.log.select("GET", r"/manifests/")
        assert [g.headers["authorization"].split()[0] for g in gets] == ["Basic"]


def test_a_registry_token_is_sent_as_is(fake, tmp_path):
    token = fake.api.tokens.issue("alice", {"team/app": {"pull"}})
    with _client(tmp_path, Credential(registry_token=token)) as client:
        client.get_manifest(ref(fake, "team/app:1.0"))
    assert token_requests(fake) == []
    assert fake.log.select("GET", r"/manifests/")[0].headers["authorization"] == f"Bearer {token}"


def test_a_challenge_first_seen_on_a_repository_is_adopted(fake, tmp_path):
    """A registry that answers `/v2/` anonymously but challenges on the repository."""
    fake.script(("GET", r"^/v2/$"), respond(200, "{}"))
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        client.get_manifest(ref(fake, "team/app:1.0"))
    statuses = [(e.method, e.path, e.status) for e in fake.log.entries if e.path != "/token"]
    assert statuses == [
        ("GET", "/v2/", 200),
        ("GET", "/v2/team/app/manifests/1.0", 401),
        ("GET", "/v2/team/app/manifests/1.0", 200),
    ]
    assert len(token_requests(fake)) == 1


def test_check_credentials_with_bearer_fetches_a_scopeless_token(fake, tmp_path):
    with fake_client(tmp_path, username="alice", password="alice-pw") as client:
        assert client.check_credentials(fake.host) == "bearer"
    (fetch,) = token_requests(fake)
    assert "scope" not in fetch.query and fetch.query["account"] == ["alice"]
    with fake_client(tmp_path / "2", username="alice", password="nope") as client:
        with pytest.raises(AuthError, match="rejected the credentials"):
            client.check_credentials(fake.host)


def test_no_challenge_means_no_credentials_sent(tmp_path):
    with FakeRegistry() as fake:
        fake.seed_image("team/app", "linux/amd64", tag="1.0")
        with fake_client(tmp_path, username="alice", password="alice-pw") as client:
            client.get_manifest(ref(fake, "team/app:1.0"))
            assert client.check_credentials(fake.host) == "none"
        assert all("authorization" not in e.headers for e in fake.log.entries)
