"""Pure parts of the auth flow: challenge parsing, scopes, token lifetimes."""

from __future__ import annotations

import pytest

from manifestor.errors import AuthError
from manifestor.remote.auth import (
    Scope,
    Token,
    TokenCache,
    merge_scopes,
    parse_challenges,
    parse_scope,
    pick_challenge,
    repository_scope,
    token_expiry,
)


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
