"""The auth flow without I/O: challenge parsing, scopes, token lifetimes, and the whole
flow driven with scripted replies (each request it asks for is checked, no sockets)."""

from __future__ import annotations

import base64
import json
import threading
import time
from urllib.parse import parse_qs

import pytest
from requests.structures import CaseInsensitiveDict

from manifestor.errors import AuthError, CredentialsRejectedError, TransportError
from manifestor.local.keychain import Credential
from manifestor.remote.auth import (
    Authenticator,
    AuthRequest,
    Challenge,
    RegistryRequest,
    Scope,
    Token,
    TokenCache,
    TokenRequest,
    drive,
    merge_scopes,
    parse_challenges,
    parse_scope,
    pick_challenge,
    repository_scope,
    token_expiry,
)
from manifestor.remote.response import HttpResponse
from manifestor.remote.transport import Transport


def test_bearer_challenge_parses_realm_service_and_scope_exactly():
    header = (
        'Bearer realm="https://auth.example/token",service="reg.example",'
        'scope="repository:team/app:pull,push"'
    )
    [challenge] = parse_challenges([header])
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example/token",
        "service": "reg.example",
        "scope": "repository:team/app:pull,push",
    }


def test_scheme_and_parameter_names_are_case_insensitive():
    [challenge] = parse_challenges(['bearer REALM="https://a/t",Service=s'])
    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://a/t", "service": "s"}


def test_several_challenges_in_one_header_and_across_headers():
    one = parse_challenges(['Basic realm="x", Bearer realm="https://a/t",service="s"'])
    assert [c.scheme for c in one] == ["basic", "bearer"]
    assert pick_challenge(one).scheme == "bearer"
    two = parse_challenges(["Negotiate", 'Basic realm="r"'])
    assert [c.scheme for c in two] == ["negotiate", "basic"]
    assert pick_challenge(two).scheme == "basic"


def test_quoted_values_keep_commas_and_escapes():
    [challenge] = parse_challenges(['Bearer realm="https://a/t?x=1,2",error="say \\"hi\\""'])
    assert challenge.params["realm"] == "https://a/t?x=1,2"
    assert challenge.params["error"] == 'say "hi"'


@pytest.mark.parametrize(
    "header", ['Bearer realm="https://a/t', "Bearer", 'Bearer service="s"', "", ",,,", "=x"]
)
def test_malformed_headers_never_raise(header):
    challenges = parse_challenges([header])
    assert all(c.scheme for c in challenges)


def test_unsupported_schemes_are_not_picked():
    assert pick_challenge(parse_challenges(["Negotiate abc=="])) is None


def test_scope_name_may_contain_a_colon():
    scope = parse_scope("repository:localhost:5000/foo:pull,push")
    assert scope == Scope("repository", "localhost:5000/foo", frozenset({"pull", "push"}))
    assert str(scope) == "repository:localhost:5000/foo:pull,push"


def test_malformed_scope_is_an_auth_error():
    with pytest.raises(AuthError):
        parse_scope("repository")


def test_merge_scopes_unites_actions_per_repository():
    merged = merge_scopes(
        [
            repository_scope("a", "pull"),
            repository_scope("a", "push"),
            repository_scope("b", "pull"),
        ]
    )
    assert merged == {repository_scope("a", "pull", "push"), repository_scope("b", "pull")}


def test_a_push_token_covers_a_later_pull_of_the_same_repository():
    token = Token("t", frozenset({repository_scope("a", "pull", "push")}), expires_at=1e12)
    assert token.covers([repository_scope("a", "pull")])
    assert not token.covers([repository_scope("b", "pull")])


def test_token_lifetime_is_at_least_sixty_seconds():
    assert token_expiry({"token": "T", "expires_in": 10}, now=1000.0) == 1060.0
    assert token_expiry({"token": "T"}, now=1000.0) == 1060.0
    assert token_expiry({"token": "T", "expires_in": 300}, now=1000.0) == 1300.0


def test_future_issued_at_is_replaced_by_local_now():
    expiry = token_expiry({"expires_in": 300, "issued_at": "2999-01-01T00:00:00Z"}, now=1000.0)
    assert expiry == 1300.0


def test_cache_expires_tokens_and_keeps_them_per_key():
    clock = [1000.0]
    cache = TokenCache(clock=lambda: clock[0])
    scopes = frozenset({repository_scope("a", "pull")})
    cache.add(("realm", "svc", "alice"), Token("t", scopes, expires_at=1060.0))
    assert cache.find(("realm", "svc", "alice"), scopes).value == "t"
    assert cache.find(("realm", "svc", "bob"), scopes) is None
    clock[0] = 1061.0
    assert cache.find(("realm", "svc", "alice"), scopes) is None


# -- the flow, driven with scripted replies: every request it asks for, no sockets --------

REGISTRY = "https://registry.example"
REALM = "https://auth.example/token"
BEARER = Challenge("bearer", {"realm": REALM, "service": "registry.example"})
BASIC = Challenge("basic", {"realm": "registry"})
MANIFEST = f"{REGISTRY}/v2/team/app/manifests/1.0"
PULL = (repository_scope("team/app", "pull"),)
PUSH = (repository_scope("team/app", "pull", "push"),)


class Reply(HttpResponse):
    """A scripted reply that remembers whether the driver closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True


def reply(status: int, body: str = "", *challenges: str, url: str = "") -> Reply:
    """`url` is where the request ended up; empty: the URL it was sent to."""
    return Reply(status, url, CaseInsensitiveDict(), body.encode(), tuple(challenges))


def token(value: str, **extra: object) -> Reply:
    return reply(200, json.dumps({"token": value, "expires_in": 300, **extra}))


class Script:
    """Answers each request with the next scripted reply and records what was sent."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.sent: list[AuthRequest] = []

    def __call__(self, request: AuthRequest) -> HttpResponse:
        self.sent.append(request)
        assert self.replies, f"no reply scripted for {request}"
        answer = self.replies.pop(0)
        answer.url = answer.url or request.url
        return answer

    def steps(self) -> list[tuple[str, str, str | None]]:
        """(what, method, Authorization) per request, `what` being "registry" or "token"."""
        return [
            (
                "token" if isinstance(r, TokenRequest) else "registry",
                r.method,
                r.authorization,
            )
            for r in self.sent
        ]

    def done(self) -> bool:
        return not self.replies


class Keys:
    """A keychain: `resolve` hands out the first credential, each `renew` the next."""

    def __init__(self, *credentials: Credential | None) -> None:
        self.credentials = list(credentials)
        self.renewals = 0

    def resolve(self, registry: str) -> Credential | None:
        return self.credentials[0]

    def renew(self, registry: str) -> Credential | None:
        self.renewals += 1
        return self.credentials[min(self.renewals, len(self.credentials) - 1)]


def authenticator(
    challenge: Challenge | None, credential: Credential | None, cache: TokenCache | None = None
) -> Authenticator:
    transport = Transport()  # a flow sends nothing itself; only `authorization` would
    transport.close()
    return Authenticator(transport, REGISTRY, challenge, credential, cache or TokenCache())


def run(
    auth: Authenticator,
    script: Script,
    keys: Keys | None = None,
    *,
    url: str = MANIFEST,
    method: str = "GET",
    scopes: tuple[Scope, ...] = PULL,
) -> HttpResponse:
    flow = auth.flow(RegistryRequest(method, url, scopes), keys or Keys(None), "registry.example")
    answer = drive(flow, script)
    assert script.done(), f"replies left over: {script.replies}"
    return answer


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ALICE = Credential("alice", "alice-pw")


def test_a_bearer_request_fetches_a_token_then_reuses_it_for_the_same_scopes():
    auth = authenticator(BEARER, ALICE)
    first = Script(token("T1"), reply(200, "{}"))
    assert run(auth, first).status == 200
    fetch = first.sent[0]
    assert isinstance(fetch, TokenRequest) and fetch.method == "GET"
    assert fetch.url == (
        f"{REALM}?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull&account=alice"
    )
    assert fetch.authorization == basic("alice", "alice-pw")
    assert first.steps()[1] == ("registry", "GET", "Bearer T1")

    again = Script(reply(200, "{}"))
    run(auth, again)
    assert again.steps() == [("registry", "GET", "Bearer T1")]


def test_a_push_needs_a_new_token_and_that_token_covers_later_pulls():
    auth = authenticator(BEARER, ALICE)
    run(auth, Script(token("PULL"), reply(200)))
    push = Script(token("PUSH"), reply(201))
    run(auth, push, method="PUT", scopes=PUSH)
    assert "scope=repository%3Ateam%2Fapp%3Apull%2Cpush" in push.sent[0].url
    pull = Script(reply(200))
    run(auth, pull)
    assert pull.steps()[0][2] in ("Bearer PULL", "Bearer PUSH")


def test_basic_credentials_go_with_the_request_and_no_token_is_fetched():
    script = Script(reply(200))
    run(authenticator(BASIC, ALICE), script)
    assert script.steps() == [("registry", "GET", basic("alice", "alice-pw"))]


def test_a_registry_token_is_sent_as_is_and_a_401_is_not_retried():
    auth = authenticator(BEARER, Credential(registry_token="RT"))
    script = Script(reply(401, "", f'Bearer realm="{REALM}",error="invalid_token"'))
    assert run(auth, script).status == 401
    assert script.steps() == [("registry", "GET", "Bearer RT")]


def test_no_challenge_sends_no_credentials_until_a_repository_challenges():
    """A registry that answers `/v2/` anonymously may still challenge on a repository:
    the challenge is adopted, the credential looked up, and the request sent once more."""
    auth = authenticator(None, None)
    challenge = f'Bearer realm="{REALM}",service="registry.example"'
    script = Script(reply(401, "", challenge), token("T"), reply(200))
    assert run(auth, script, Keys(ALICE)).status == 200
    assert [step[:2] for step in script.steps()] == [
        ("registry", "GET"),
        ("token", "GET"),
        ("registry", "GET"),
    ]
    assert script.steps()[0][2] is None and script.steps()[2][2] == "Bearer T"
    assert auth.scheme == "bearer" and auth.realm == REALM


def test_a_late_challenge_with_a_bad_realm_changes_nothing():
    auth = authenticator(None, None)
    script = Script(reply(401, "", 'Bearer realm="ftp://auth.example/t"'))
    with pytest.raises(AuthError, match="not an http"):
        run(auth, script, Keys(ALICE))
    assert auth.scheme is None and auth.realm is None
    assert [r.authorization for r in script.sent] == [None]


def test_insufficient_scope_earns_one_token_with_the_named_scope_and_one_retry():
    auth = authenticator(BEARER, ALICE)
    insufficient = (
        f'Bearer realm="{REALM}",service="registry.example",'
        'scope="repository:other/lib:pull",error="insufficient_scope"'
    )
    script = Script(
        token("T1"), reply(401, "", insufficient), token("T2"), reply(401, "", insufficient)
    )
    final = run(auth, script)
    assert final.status == 401  # twice refused: the reply is the caller's to report
    assert [step[:2] for step in script.steps()] == [
        ("token", "GET"),
        ("registry", "GET"),
        ("token", "GET"),
        ("registry", "GET"),
    ]
    refetch = script.sent[2].url
    assert "scope=repository%3Aother%2Flib%3Apull" in refetch
    assert "scope=repository%3Ateam%2Fapp%3Apull" in refetch
    assert script.steps()[3][2] == "Bearer T2"
    # The refused token is dropped: the next pull does not send it again.
    nxt = Script(reply(200))
    run(auth, nxt)
    assert nxt.steps() == [("registry", "GET", "Bearer T2")]


def test_an_identity_token_is_exchanged_with_an_oauth2_post_and_a_new_refresh_token_kept():
    auth = authenticator(BEARER, Credential("alice", identity_token="R1"))
    first = Script(token("T1", refresh_token="R2"), reply(200))
    run(auth, first)
    post = first.sent[0]
    assert isinstance(post, TokenRequest)
    assert (post.method, post.url, post.authorization) == ("POST", REALM, None)
    assert parse_qs(post.form or "") == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["R1"],
        "client_id": ["manifestor"],
        "service": ["registry.example"],
        "scope": ["repository:team/app:pull"],
    }
    second = Script(token("T2"), reply(200))
    run(auth, second, scopes=(repository_scope("team/other", "pull"),))
    assert parse_qs(second.sent[0].form or "")["refresh_token"] == ["R2"]


@pytest.mark.parametrize("status", [400, 401, 404, 405])
def test_a_refused_oauth2_post_falls_back_to_a_get_with_basic_credentials(status):
    auth = authenticator(BEARER, Credential("alice", "alice-pw", identity_token="R1"))
    script = Script(reply(status, "no"), token("T"), reply(200))
    run(auth, script)
    assert script.steps() == [
        ("token", "POST", None),
        ("token", "GET", basic("alice", "alice-pw")),
        ("registry", "GET", "Bearer T"),
    ]


def test_a_post_that_fails_otherwise_is_an_auth_error_and_no_get_follows():
    auth = authenticator(BEARER, Credential("alice", "alice-pw", identity_token="R1"))
    script = Script(reply(500, "broken"))
    with pytest.raises(AuthError, match="answered HTTP 500"):
        run(auth, script)
    assert script.steps() == [("token", "POST", None)]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (reply(200, "not json"), "not JSON"),
        (reply(200, "[1, 2]"), "not a JSON object"),
        (reply(200, '{"expires_in": 300}'), "returned no token"),
        (reply(503, "{}"), "answered HTTP 503"),
    ],
)
def test_bad_token_answers_are_auth_errors_and_nothing_reaches_the_registry(answer, message):
    script = Script(answer)
    with pytest.raises(AuthError, match=message):
        run(authenticator(BEARER, ALICE), script)
    assert [step[0] for step in script.steps()] == ["token"]


def test_refused_credentials_are_read_again_once_and_the_token_asked_for_again():
    auth = authenticator(BEARER, ALICE)
    keys = Keys(ALICE, Credential("alice", "new-pw"))
    script = Script(reply(401, "{}"), token("T"), reply(201))
    run(auth, script, keys, method="PUT", scopes=PUSH)
    assert keys.renewals == 1
    assert script.steps() == [
        ("token", "GET", basic("alice", "alice-pw")),
        ("token", "GET", basic("alice", "new-pw")),
        ("registry", "PUT", "Bearer T"),
    ]


def test_refused_credentials_that_read_the_same_again_are_reported():
    keys = Keys(ALICE, ALICE)
    script = Script(reply(401, "{}"))
    with pytest.raises(CredentialsRejectedError, match="rejected the credentials for"):
        run(authenticator(BEARER, ALICE), script, keys, method="PUT", scopes=PUSH)
    assert keys.renewals == 1


def test_stale_credentials_on_a_pull_fall_back_to_an_anonymous_token():
    auth = authenticator(BEARER, ALICE)
    keys = Keys(ALICE, ALICE)
    script = Script(reply(401, "{}"), token("ANON"), reply(200))
    assert run(auth, script, keys).status == 200
    assert script.steps() == [
        ("token", "GET", basic("alice", "alice-pw")),
        ("token", "GET", None),
        ("registry", "GET", "Bearer ANON"),
    ]
    assert "account" not in script.sent[1].url
    assert keys.renewals == 0  # the anonymous token answered; nothing to renew


def test_a_registry_refusing_the_anonymous_fallback_reports_the_rejected_credentials():
    auth = authenticator(BEARER, ALICE)
    script = Script(reply(401, "{}"), token("ANON"), reply(403, "{}"))
    with pytest.raises(CredentialsRejectedError, match="rejected the credentials"):
        run(auth, script)
    assert len(script.sent) == 3  # no retry: the anonymous token is all there is
    assert script.sent[-1].authorization == "Bearer ANON"


def test_stale_credentials_on_a_write_are_not_hidden_by_an_anonymous_token():
    script = Script(reply(401, "{}"))
    with pytest.raises(CredentialsRejectedError):
        run(authenticator(BEARER, ALICE), script, Keys(ALICE, ALICE), method="PUT", scopes=PUSH)
    assert script.steps() == [("token", "GET", basic("alice", "alice-pw"))]


def test_an_expired_basic_password_is_read_again_once_per_run():
    """ECR: Basic with a password that lasts 12 hours; the helper runs again once."""
    auth = authenticator(BASIC, Credential("AWS", "old"))
    keys = Keys(Credential("AWS", "old"), Credential("AWS", "new"), Credential("AWS", "newer"))
    script = Script(reply(401, "denied"), reply(200))
    assert run(auth, script, keys).status == 200
    assert script.steps() == [
        ("registry", "GET", basic("AWS", "old")),
        ("registry", "GET", basic("AWS", "new")),
    ]
    later = Script(reply(403, "denied"))
    assert run(auth, later, keys).status == 403
    assert keys.renewals == 1


def test_a_token_still_called_expired_after_a_fresh_one_reads_the_credential_again():
    auth = authenticator(BEARER, ALICE)
    keys = Keys(ALICE, Credential("alice", "new-pw"))
    script = Script(
        token("T1"),
        reply(401, '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}'),
        token("T2"),
        reply(401, "token has expired"),
        token("T3"),
        reply(200),
    )
    assert run(auth, script, keys).status == 200
    assert script.steps() == [
        ("token", "GET", basic("alice", "alice-pw")),
        ("registry", "GET", "Bearer T1"),
        ("token", "GET", basic("alice", "alice-pw")),
        ("registry", "GET", "Bearer T2"),
        ("token", "GET", basic("alice", "new-pw")),
        ("registry", "GET", "Bearer T3"),
    ]
    assert keys.renewals == 1


def test_an_expired_answer_is_final_when_the_credential_reads_the_same_again():
    keys = Keys(ALICE, ALICE)
    script = Script(token("T1"), reply(401, "token expired"), token("T2"), reply(401, "expired"))
    assert run(authenticator(BEARER, ALICE), script, keys).status == 401
    assert keys.renewals == 1 and len(script.sent) == 4


def test_a_401_from_a_redirect_target_on_another_host_is_not_answered_with_credentials():
    auth = authenticator(BEARER, ALICE)
    elsewhere = reply(401, "", 'Bearer realm="https://evil.example/t"', url="https://s3.example/b")
    script = Script(token("T"), elsewhere)
    assert run(auth, script).status == 401
    assert len(script.sent) == 2


def test_a_url_on_another_host_gets_no_credentials_and_no_token():
    auth = authenticator(BEARER, ALICE)
    script = Script(reply(401, "", f'Bearer realm="{REALM}"'))
    answer = run(auth, script, url="https://uploads.example/session?x=1", method="PATCH")
    assert answer.status == 401
    assert script.steps() == [("registry", "PATCH", None)]


def test_the_driver_closes_each_reply_the_flow_moved_past_but_not_the_last():
    insufficient = f'Bearer realm="{REALM}",error="insufficient_scope"'
    refused, accepted = reply(401, "", insufficient), reply(200)
    run(authenticator(BEARER, ALICE), Script(token("T1"), refused, token("T2"), accepted))
    assert refused.closed and not accepted.closed


def test_a_failed_send_frees_the_endpoint_for_other_requests():
    auth = authenticator(BEARER, ALICE)

    def broken(request: AuthRequest) -> HttpResponse:
        raise TransportError("connection refused")

    failed = auth.flow(RegistryRequest("GET", MANIFEST, PULL), Keys(ALICE), "r")
    with pytest.raises(TransportError):
        drive(failed, broken)
    # The token fetch held the endpoint's lock when the send failed; while the failed flow
    # is still referenced (a traceback keeps it), a next request must not wait for it.
    done: list[HttpResponse] = []
    worker = threading.Thread(target=lambda: done.append(run(auth, Script(token("T"), reply(200)))))
    worker.start()
    worker.join(timeout=5)
    assert [r.status for r in done] == [200]


def test_threads_sharing_an_endpoint_fetch_one_token_per_scope_set():
    auth = authenticator(BEARER, ALICE)
    fetches: list[str] = []
    started = threading.Barrier(8)
    lock = threading.Lock()

    def send(request: AuthRequest) -> HttpResponse:
        if isinstance(request, TokenRequest):
            with lock:
                fetches.append(request.url)
            time.sleep(0.05)  # long enough for every thread to want the token meanwhile
            return token("T")
        return reply(200, url=request.url)

    def one_pull() -> None:
        started.wait()
        flow = auth.flow(RegistryRequest("GET", MANIFEST, PULL), Keys(ALICE), "r")
        answer = drive(flow, send)
        with lock:
            sent.append(answer.status)

    sent: list[int] = []
    threads = [threading.Thread(target=one_pull) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sent == [200] * 8
    assert len(fetches) == 1
