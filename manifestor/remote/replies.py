"""A registry's error reply → the typed error a user can act on, in the words each registry
uses: distribution's codes, Artifactory's `status` bodies, Docker Hub's plain-text 429,
immutable tags, repositories that do not exist, rate limits and their quotas."""

from __future__ import annotations

import json
from dataclasses import dataclass

from manifestor.errors import (
    DeniedError,
    ManifestBlobUnknownError,
    ManifestInvalidError,
    NotFoundError,
    RegistryError,
    RegistryErrorDetail,
    RepositoryNotFoundError,
    TagImmutableError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
)
from manifestor.remote.ratelimit import RateLimit, is_secondary_rate_limit, read_rate_limit
from manifestor.remote.response import HttpResponse
from manifestor.remote.retry import RETRY_STATUSES, parse_retry_after


@dataclass(frozen=True)
class Caller:
    """Who asked for what, so an error reply can be told in the user's terms."""

    registry: str
    repo: str
    user: str | None = None
    # A token server accepted the user's credentials: a later 401 is about permissions.
    token_auth: bool = False
    push: bool = False
    tag: str | None = None  # set when writing a tag


# Distribution's fixed messages, for bodies that give a `status` instead of a `code`
# (Artifactory: {"errors":[{"status":404,"message":"manifest unknown"}]}).
_CODES_BY_MESSAGE = {
    "blob unknown to registry": "BLOB_UNKNOWN",
    "manifest unknown": "MANIFEST_UNKNOWN",
    "manifest invalid": "MANIFEST_INVALID",
    "manifest blob unknown to registry": "MANIFEST_BLOB_UNKNOWN",
    "repository name not known to registry": "NAME_UNKNOWN",
    "requested access to the resource is denied": "DENIED",
    "authentication required": "UNAUTHORIZED",
    "too many requests": "TOOMANYREQUESTS",
}
_IMMUTABLE_CODES = frozenset({"TAG_IMMUTABLE", "PRECONDITION", "REGISTRY_DISALLOWED_OPERATION"})
_IMMUTABLE_WORDS = ("immutable", "cannot be overwritten", "delete permission", "overwrite")


def _parse_errors(body: bytes) -> tuple[RegistryErrorDetail, ...]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ()
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(_error_detail(e) for e in errors if isinstance(e, dict))


def _error_detail(entry: dict[str, object]) -> RegistryErrorDetail:
    message = str(entry.get("message", "") or "")
    code = str(entry.get("code", "") or "")
    if not code:
        code = _CODES_BY_MESSAGE.get(message.strip().lower().rstrip("."), "")
    return RegistryErrorDetail(code, message, entry.get("detail"))


def _plain_text(response: HttpResponse) -> str:
    """A non-JSON error body's first line (Docker Hub: "Too Many Requests (HAP429).")."""
    if response.body[:1] in (b"{", b"[", b"<"):
        return ""
    line = response.body[:300].decode("utf-8", "replace").strip().split("\n", 1)[0]
    return " ".join(line.split())[:200]


def _detail_text(detail: object) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict) and isinstance(message := detail.get("message"), str):
        return message
    return ""


def _said(response: HttpResponse, errors: tuple[RegistryErrorDetail, ...]) -> str:
    parts = []
    for e in errors:
        text = e.message or e.code.lower()
        detail = _detail_text(e.detail)
        parts.append(text + (f" ({detail})" if detail else ""))
    return "; ".join(p for p in parts if p) or _plain_text(response) or f"HTTP {response.status}"


def _is_immutable_refusal(status: int, codes: set[str], said: str) -> bool:
    """A refusal to overwrite a tag, in each registry's words: ECR 400 TAG_INVALID "...
    cannot be overwritten because the repository is immutable", Harbor 412 PRECONDITION,
    Quay 409 TAG_IMMUTABLE, Docker Hub 403, ACR 405 (a locked tag), Artifactory 401/403
    "needs DELETE permission"."""
    text = said.lower()
    if codes & _IMMUTABLE_CODES or status in (409, 412):
        return True
    if status == 405 and "disallowed" in text:
        return True
    return status in (400, 401, 403) and any(w in text for w in _IMMUTABLE_WORDS)


def registry_error(response: HttpResponse, what: str, caller: Caller) -> RegistryError:
    """Turn an error reply into the typed exception a caller can act on."""
    status = response.status
    errors = _parse_errors(response.body)
    codes = {e.code for e in errors}
    said = _said(response, errors)[:500]
    if response.attempts > 1:
        told = said != f"HTTP {status}"  # the registry's own words, JSON or plain text
        said = f"answered {response.describe()}" + (f": {said}" if told else "")
    user = caller.user
    if caller.tag and _is_immutable_refusal(status, codes, said):
        return TagImmutableError(
            f"tag {caller.tag} is immutable on this registry: {caller.repo}:{caller.tag} already "
            f"exists and cannot be overwritten ({said}); publish under a new tag, or lift "
            "the tag's immutability or lock first",
            status=status,
            errors=errors,
        )
    limited = status == 429 or "TOOMANYREQUESTS" in codes
    if limited or is_secondary_rate_limit(status, response.body):
        return TooManyRequestsError(
            f"{what}: rate limited by the registry ({said})" + _quota_advice(response, user),
            status=status,
            errors=errors,
        )
    # A 401 naming insufficient_scope, or any 401 after a token server accepted the
    # credentials, means they lack the permission; any other 401 to a user means the
    # credentials themselves were refused.
    scope_problem = any("insufficient_scope" in c for c in response.challenges)
    if status == 401 and user and (scope_problem or caller.token_auth):
        action = "push" if caller.push else "pull"
        return DeniedError(
            f"{what}: access denied: user {user} lacks {action} permission on {caller.repo} "
            f"({said}), or the path is deeper than the registry allows (GitLab: the "
            "project path plus at most two levels)",
            status=status,
            errors=errors,
        )
    if status == 401 and user:
        return UnauthorizedError(
            f"{what}: the registry rejected the credentials of user {user}; "
            "check the username and password",
            status=status,
            errors=errors,
        )
    if status == 401:
        return UnauthorizedError(
            f"{what}: authentication required; log in to this registry (credentials in "
            "the Docker config: a credential helper or auths)",
            status=status,
            errors=errors,
        )
    if status == 403 or "DENIED" in codes:
        return DeniedError(f"{what}: access denied ({said})", status=status, errors=errors)
    if "MANIFEST_BLOB_UNKNOWN" in codes:
        return ManifestBlobUnknownError(
            f"{what}: the registry lacks {said}", status=status, errors=errors
        )
    if "NAME_UNKNOWN" in codes:
        advice = (
            "; this registry does not create repositories on push: create it first (ECR: "
            f"aws ecr create-repository --repository-name {caller.repo}, or a CREATE_ON_PUSH "
            "repository creation template; Artifact Registry: gcloud artifacts repositories "
            "create, and name images LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE)"
            if caller.push
            else ""
        )
        return RepositoryNotFoundError(
            f"{what}: repository {caller.repo} does not exist on {caller.registry} ({said})"
            + advice,
            status=status,
            errors=errors,
        )
    if status == 404 or codes & {"MANIFEST_UNKNOWN", "BLOB_UNKNOWN"}:
        if "accept header does not support" in said.lower():
            said += "; the registry hid it from this client's Accept header: please report this"
        return NotFoundError(f"{what}: not found ({said})", status=status, errors=errors)
    if codes & {"MANIFEST_INVALID", "UNSUPPORTED"} or status == 415:
        return ManifestInvalidError(
            f"{what}: the registry refused it ({said})", status=status, errors=errors
        )
    if status in RETRY_STATUSES:
        return UnavailableError(f"{what}: {said}", status=status, errors=errors)
    return RegistryError(f"{what}: {said}", status=status, errors=errors)


def _quota_advice(response: HttpResponse, user: str | None) -> str:
    """What the reply says about the limit: the quota left, when to come back."""
    parts = []
    quota: RateLimit | None = read_rate_limit(response.headers)
    if quota is not None:
        parts.append(quota.describe())
        if quota.long_wait:
            parts.append("the quota refills over hours, so retrying now cannot help")
    after = parse_retry_after(response.headers.get("Retry-After"))
    if after is not None:
        parts.append(f"the registry asked to wait {after:.0f} s")
    if user is None and quota is not None:
        parts.append("log in to get a higher limit")
    return "; " + "; ".join(parts) if parts else ""
