"""The in-process token endpoint (`GET`/`POST /token`), with the personalities' token quirks:
last scope only, depth limits, silent push down-scoping, private new repositories,
`access_token`-only answers, a refused OAuth2 POST and the ACR refresh-token login."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from .auth import basic_user, parse_scope
from .personality import ZERO_UUID_USER
from .wire import Request, Response, error, json_response

if TYPE_CHECKING:
    from .api import Distribution


def _denied(message: str) -> Response:
    return error(401, "UNAUTHORIZED", message)


def token_endpoint(api: Distribution, request: Request) -> Response:
    quirks = api.personality
    auth = api.auth
    if auth is None or auth.scheme != "bearer":
        return error(404, "NOT_FOUND", "no token endpoint: bearer auth is off")
    if request.method == "POST":
        if quirks.token_post_401:
            return _denied("OAuth2 POST is not supported; use GET")
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        scopes = form.get("scope", "").split()
        grant = form.get("grant_type")
        if grant == "refresh_token":
            owner = api.tokens.refresh_owner(form.get("refresh_token", ""))
            if owner is None:
                return _denied("invalid refresh token")
            user: str | None = owner
        elif grant == "password":
            user = _login(api, form.get("username", ""), form.get("password", ""), post=True)
            if user is None:
                return _denied("invalid username or password")
        else:
            return error(400, "UNSUPPORTED", f"unsupported grant_type {grant!r}")
    else:
        scopes = [s for value in request.query.get("scope", []) for s in value.split()]
        credentials = basic_user(request.headers.get("authorization"))
        user = None
        if credentials is not None:
            user = _login(api, *credentials, post=False)
            if user is None:
                return _denied("invalid username or password")
    if quirks.token_last_scope_only:
        scopes = scopes[-1:]
    access: dict[str, set[str]] = {}
    for scope in scopes:
        parsed = parse_scope(scope)
        if parsed is None or parsed[0] != "repository":
            continue
        _, repo, wanted = parsed
        if quirks.new_repos_private and user is None and api.pushed_repo(repo):
            return _denied(f"anonymous access to private repository {repo} is denied")
        granted = set(wanted) & auth.allowed(user, repo)
        if quirks.token_max_depth is not None and repo.count("/") + 1 > quirks.token_max_depth:
            granted = set()
        if user in quirks.drop_push_for:
            granted.discard("push")
        access.setdefault(repo, set()).update(granted)
    value = api.tokens.issue(user, access)
    answer = {
        "access_token": value,
        "expires_in": 300,
        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not quirks.access_token_only:
        answer["token"] = value
    return json_response(200, answer)


def _login(api: Distribution, user: str, password: str, *, post: bool) -> str | None:
    """The authenticated user name, or None for bad credentials."""
    assert api.auth is not None
    if user == ZERO_UUID_USER and api.personality.refresh_token_user:
        # ACR: the zero-UUID "user" logs in with a refresh token, over the OAuth2 POST only.
        return api.tokens.refresh_owner(password) if post else None
    return user if api.auth.users.get(user) == password and password else None
