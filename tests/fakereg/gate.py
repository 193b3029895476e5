"""Who may ask, and how often: Basic and Bearer checks with distribution's challenges
(scopes, `insufficient_scope`, expired tokens) and the personalities' rate limits."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .auth import basic_user
from .wire import Request, Response, error

if TYPE_CHECKING:
    from .api import Distribution

HUB_WINDOW = 21600  # Docker Hub counts pulls over six hours


def required_access(request: Request, name: str, route: re.Match[str]) -> list[tuple[str, str]]:
    """(repository, action) pairs a request needs; a mount also needs pull on `from`."""
    if request.method in ("GET", "HEAD"):
        return [(name, "pull")]
    if request.method == "DELETE" and route["upload"] is None:
        return [(name, "delete")]
    access = [(name, "pull"), (name, "push")]
    source = request.arg("from")
    if request.arg("mount") and source:
        access.append((source, "pull"))
    return access


def authorize(
    api: Distribution, request: Request, needed: list[tuple[str, str]]
) -> Response | None:
    auth = api.auth
    if auth is None:
        return None
    header = request.headers.get("authorization", "")
    if auth.scheme == "basic":
        credentials = basic_user(header)
        user = None
        if credentials is not None:
            user, password = credentials
            if auth.users.get(user) != password:
                return _challenge(api, needed, "invalid credentials")
        if credentials is None and (not needed or not _basic_ok(api, None, needed)):
            return _challenge(api, needed, "authentication required")
        if needed and not _basic_ok(api, user, needed):
            return error(403, "DENIED", "requested access to the resource is denied")
        return None
    if header.lower().startswith("basic ") and api.personality.bearer_only:
        return error(403, "DENIED", "Your Authorization Token is invalid.")
    if not header.lower().startswith("bearer "):
        return _challenge(api, needed, "authentication required")
    token = api.tokens.use(header[7:].strip())
    if token is None:
        return _challenge(api, needed, "invalid token", "invalid_token")
    quirks = api.personality
    age = time.monotonic() - token.issued
    if (quirks.token_max_uses is not None and token.uses > quirks.token_max_uses) or (
        quirks.token_ttl is not None and age > quirks.token_ttl
    ):
        return _challenge(
            api,
            needed,
            "Your authorization token has expired. Reauthenticate and try again.",
            "invalid_token",
            code="DENIED",
        )
    if any(action not in token.access.get(repo, set()) for repo, action in needed):
        return _challenge(api, needed, "authorization failed", "insufficient_scope")
    return None


def _basic_ok(api: Distribution, user: str | None, needed: list[tuple[str, str]]) -> bool:
    assert api.auth is not None
    return all(action in api.auth.allowed(user, repo) for repo, action in needed)


def _challenge(
    api: Distribution,
    needed: list[tuple[str, str]],
    message: str,
    token_error: str | None = None,
    code: str = "UNAUTHORIZED",
) -> Response:
    assert api.auth is not None
    if api.auth.scheme == "basic":
        challenge = 'Basic realm="fakereg"'
    else:
        by_repo: dict[str, list[str]] = {}
        for repo, action in needed:
            by_repo.setdefault(repo, []).append(action)
        scope = " ".join(f"repository:{r}:{','.join(a)}" for r, a in by_repo.items())
        challenge = f'Bearer realm="{api.base_url}/token",service="{api.auth.service}"'
        if scope:
            challenge += f',scope="{scope}"'
        if token_error:
            challenge += f',error="{token_error}"'
    detail = [{"Type": "repository", "Name": r, "Action": a} for r, a in needed] or None
    return error(401, code, message, detail, (("WWW-Authenticate", challenge),))


def rate_limited(api: Distribution, request: Request) -> Response | None:
    quirks = api.personality
    if quirks.rate_limit is None:
        return None
    manifest_get = request.method == "GET" and "/manifests/" in request.path
    with api.lock:
        if quirks.rate_limit == "hub_pull" and not manifest_get:
            return None
        api.counted_requests += 1
        if api.counted_requests <= quirks.rate_limit_after:
            return None
    if quirks.rate_limit == "hub_pull":
        window = f"{quirks.rate_limit_after};w={HUB_WINDOW}"
        return error(
            429,
            "TOOMANYREQUESTS",
            "You have reached your unauthenticated pull rate limit."
            " https://www.docker.com/increase-rate-limit",
            headers=(
                ("ratelimit-limit", window),
                ("ratelimit-remaining", f"0;w={HUB_WINDOW}"),
                ("docker-ratelimit-source", "127.0.0.1"),
            ),
        )
    if quirks.rate_limit == "hub_abuse":
        return Response(
            429,
            b"Too Many Requests (HAP429).\n",
            (("Content-Type", "text/plain"), ("Retry-After", "60")),
        )
    if quirks.rate_limit == "ghcr":
        return error(429, "TOOMANYREQUESTS", "retry-after: 12.5ms, allowed: 2000/minute")
    return error(403, "DENIED", "You have exceeded a secondary rate limit")


def put_rate_exceeded(api: Distribution) -> bool:
    limit = api.personality.put_rate_per_second
    if limit is None:
        return False
    now = time.monotonic()
    with api.lock:
        while api.recent_puts and now - api.recent_puts[0] > 1.0:
            api.recent_puts.popleft()
        if len(api.recent_puts) >= limit:
            return True
        api.recent_puts.append(now)
    return False
