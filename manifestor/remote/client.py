"""Registry operations over the v2 API: manifests, blobs, mounts, uploads, tags.

One RegistryClient serves a whole invocation: it pings each registry once, keeps its
challenge and tokens, and reuses connections. It is safe to share between the threads
of a small pool. Every registry error becomes a typed exception carrying the
registry's own error codes, in the words each hosted registry uses (Artifactory's
`status` bodies, Docker Hub's plain-text 429, immutable tags, missing repositories).
Rate-limit headers are watched and a limit that is near is reported once per host."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from manifestor.errors import (
    CredentialsError,
    CredentialsRejectedError,
    DeniedError,
    DigestMismatchError,
    ManifestBlobUnknownError,
    ManifestInvalidError,
    NotFoundError,
    RegistryError,
    RegistryErrorDetail,
    RepositoryNotFoundError,
    TagImmutableError,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
)
from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.oci import (
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    Manifest,
    check_manifest_size,
    parse_manifest,
    strip_media_type,
    verify_digest,
)
from manifestor.model.reference import Reference, api_host
from manifestor.remote.auth import (
    Authenticator,
    Scope,
    TokenCache,
    parse_challenges,
    pick_challenge,
    repository_scope,
)
from manifestor.remote.ratelimit import RateLimit, is_secondary_rate_limit, read_rate_limit
from manifestor.remote.transport import (
    HttpResponse,
    RetryPolicy,
    Transport,
    authority,
    parse_retry_after,
    redact_url,
)

log = logging.getLogger("manifestor")

ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)
# Image configs are small JSON documents; cap them like manifests, a little wider.
MAX_CONFIG_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD tells about a manifest: enough to compare without downloading."""

    digest: str
    media_type: str
    size: int


@dataclass
class _Endpoint:
    base_url: str
    auth: Authenticator


@dataclass(frozen=True)
class _Caller:
    """Who asked for what, so an error reply can be told in the user's terms."""

    registry: str
    repo: str
    user: str | None = None
    # A token server accepted the user's credentials: a later 401 is about permissions.
    token_auth: bool = False
    push: bool = False
    tag: str | None = None  # set when writing a tag


class RegistryClient:
    """Talks to any number of registries for one invocation."""

    def __init__(
        self,
        *,
        keychain: Keychain | None = None,
        insecure: bool = False,
        certs_dir: str | Path | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.transport = transport or Transport(insecure=insecure, certs_dir=certs_dir, retry=retry)
        # Rate limits near or hit are told here (default: a warning on stderr).
        self.notice = notice or log.warning
        self._quota_noted: dict[str, str] = {}
        self.keychain = keychain or Keychain()
        self._tokens = TokenCache()
        self._endpoints: dict[str, _Endpoint] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints and authenticated calls ----------------------------------------------

    def ping(self, domain: str) -> None:
        """Reach a registry and learn how it authenticates (done once per host)."""
        self._endpoint(domain)

    def _endpoint(self, domain: str) -> _Endpoint:
        host = api_host(domain)
        with self._lock:
            endpoint = self._endpoints.get(host)
            lock = self._host_locks.setdefault(host, threading.Lock())
        if endpoint is not None:
            return endpoint
        with lock:
            endpoint = self._endpoints.get(host)
            if endpoint is not None:
                return endpoint
            response = self.transport.ping(host)
            base = self.transport.base_url(host)
            assert base is not None
            if response.status not in (200, 401):
                raise TransportError(
                    f"{host} does not look like a registry: "
                    f"GET /v2/ answered HTTP {response.status}"
                )
            challenge = pick_challenge(parse_challenges(response.challenges))
            credential = self.keychain.resolve(domain) if challenge is not None else None
            auth = Authenticator(self.transport, base, challenge, credential, self._tokens)
            endpoint = _Endpoint(base, auth)
            with self._lock:
                self._endpoints[host] = endpoint
            return endpoint

    def _call(
        self,
        repo: Reference,
        method: str,
        path: str,
        scopes: Iterable[Scope],
        *,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        body: BodySource | None = None,
        stream: bool = False,
        read_limit: int = 1024 * 1024,
        truncate: bool = True,
    ) -> HttpResponse:
        endpoint = self._endpoint(repo.domain)
        scopes = list(scopes)
        target = url or endpoint.base_url + path

        def send(authorization: str | None) -> HttpResponse:
            return self.transport.request(
                method,
                target,
                headers=headers,
                authorization=authorization,
                body=body,
                stream=stream,
                read_limit=read_limit,
                truncate=truncate,
            )

        if authority(target) != authority(endpoint.base_url):
            # A URL the registry handed us (an upload Location) on another host: it gets
            # no credentials, like a redirect target.
            return send(None)

        def renew() -> bool:
            return endpoint.auth.renew(lambda: self.keychain.renew(repo.domain))

        authorization = _renewing(lambda: endpoint.auth.authorization(scopes), renew)
        response = send(authorization)
        # Re-authenticate only for the registry's own 401, never for a redirect target's.
        own_reply = authority(response.url) == authority(target)
        if own_reply and response.status in (401, 403) and endpoint.auth.rejected is not None:
            # Stale credentials fell back to an anonymous token, which was not enough.
            response.close()
            raise endpoint.auth.rejected
        if response.status == 401 and own_reply:
            challenges = parse_challenges(response.challenges)
            if endpoint.auth.adopt(challenges, lambda: self.keychain.resolve(repo.domain)):
                retry_auth = _renewing(lambda: endpoint.auth.authorization(scopes), renew)
            else:
                retry_auth = _renewing(
                    lambda: endpoint.auth.reauthorize(scopes, authorization, challenges), renew
                )
            if retry_auth is not None:
                authorization = retry_auth
                response.close()
                response = send(retry_auth)
        if own_reply and _credential_stale(response, endpoint.auth.scheme) and renew():
            # A password that expired during the run (ECR's last 12 hours): read it again.
            response.close()
            response = send(_renewing(lambda: endpoint.auth.authorization(scopes), lambda: False))
        self._watch_quota(repo.domain, response)
        return response

    def _watch_quota(self, domain: str, response: HttpResponse) -> None:
        """Tell once per host when a rate limit is near, and once when it is hit."""
        quota = read_rate_limit(response.headers)
        if quota is None or not quota.near:
            return
        level = "hit" if quota.exhausted else "near"
        with self._lock:
            if self._quota_noted.get(domain) in (level, "hit"):
                return
            self._quota_noted[domain] = level
        self.notice(f"{domain}: rate limit {level}: {quota.describe()}")

    def check_credentials(self, domain: str) -> str:
        """Prove the keychain's credentials for `domain` are accepted, the way `docker
        login` does. Returns the scheme used: "basic", "bearer", or "none" when the
        registry asks for no authentication."""
        endpoint = self._endpoint(domain)
        scheme = endpoint.auth.scheme
        if scheme is None:
            return "none"
        # Bearer: the token server checks the password while issuing a scope-less token.
        value = endpoint.auth.authorization([])
        if scheme == "basic":
            response = self.transport.request(
                "GET", endpoint.base_url + "/v2/", authorization=value
            )
            if response.status != 200:
                raise UnauthorizedError(
                    f"registry {domain} rejected the credentials (HTTP {response.status}); "
                    "check the username and password",
                    status=response.status,
                )
        return scheme

    def _repo_path(self, repo: Reference, *parts: str) -> str:
        return "/v2/" + repo.path + "/" + "/".join(parts)

    # -- manifests ----------------------------------------------------------------------

    def head_manifest(self, ref: Reference) -> ManifestInfo | None:
        """Digest, type and size of a manifest without downloading it; None if absent.

        HEAD does not count against Docker Hub's pull limit. A registry that does not
        implement HEAD (405) or omits Docker-Content-Digest is asked with a GET."""
        response = self._call(
            ref,
            "HEAD",
            self._repo_path(ref, "manifests", ref.identifier),
            [repository_scope(ref.path, "pull")],
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        if response.status == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        if response.status == 200 and digest.startswith("sha256:"):
            if ref.digest and digest != ref.digest:
                raise DigestMismatchError(
                    f"{ref}: registry reports digest {digest}, not the requested {ref.digest}"
                )
            length = response.headers.get("Content-Length") or "0"
            size = int(length) if length.isdigit() else 0
            media = strip_media_type(response.headers.get("Content-Type"))
            return ManifestInfo(digest, media, size)
        if response.status in (200, 405):
            try:
                manifest = self.get_manifest(ref)
            except NotFoundError:
                return None
            return ManifestInfo(manifest.digest, manifest.media_type, manifest.size)
        raise self._error(response, f"cannot look up {ref}", ref)

    def get_manifest(self, ref: Reference) -> Manifest:
        """Fetch a manifest or list, verified against the reference's digest (if any)
        and the registry's Docker-Content-Digest, capped at 4 MiB."""
        response = self._call(
            ref,
            "GET",
            self._repo_path(ref, "manifests", ref.identifier),
            [repository_scope(ref.path, "pull")],
            headers={"Accept": ACCEPT_MANIFESTS},
            read_limit=MAX_MANIFEST_BYTES,
            truncate=False,
        )
        if response.status != 200:
            raise self._error(response, f"cannot fetch manifest {ref}", ref)
        what = f"manifest {ref}"
        manifest = parse_manifest(response.body, response.headers.get("Content-Type"), what)
        if ref.digest:
            verify_digest(response.body, ref.digest, what)
        announced = response.headers.get("Docker-Content-Digest", "")
        if announced.startswith("sha256:"):
            verify_digest(response.body, announced, f"{what} (Docker-Content-Digest)")
        return manifest

    def put_manifest(self, ref: Reference, manifest: Manifest) -> str:
        """PUT exact manifest bytes to `ref` (a tag or a digest); returns the digest."""
        check_manifest_size(manifest.size, f"manifest for {ref}")
        if ref.digest and ref.digest != manifest.digest:
            raise DigestMismatchError(
                f"refusing to put manifest {manifest.digest} under digest {ref.digest}"
            )
        response = self._call(
            ref,
            "PUT",
            self._repo_path(ref, "manifests", ref.identifier),
            [repository_scope(ref.path, "pull", "push")],
            headers={"Content-Type": manifest.media_type},
            body=BodySource.of_bytes(manifest.raw),
        )
        if response.status not in (200, 201, 202):
            raise self._error(
                response,
                f"cannot push manifest {ref}",
                ref,
                push=True,
                writes_tag=ref.digest is None and ref.tag is not None,
            )
        announced = response.headers.get("Docker-Content-Digest")
        if announced and announced != manifest.digest:
            raise DigestMismatchError(
                f"registry stored {ref} as {announced}, "
                f"but the bytes sent hash to {manifest.digest}"
            )
        return manifest.digest

    def delete_manifest(self, ref: Reference) -> None:
        if not ref.digest:
            raise ValueError("manifests are deleted by digest")
        response = self._call(
            ref,
            "DELETE",
            self._repo_path(ref, "manifests", ref.digest),
            [repository_scope(ref.path, "delete")],
        )
        if response.status not in (200, 202, 404):
            raise self._error(response, f"cannot delete {ref}", ref, push=True)

    def list_tags(self, repo: Reference) -> list[str]:
        tags: list[str] = []
        url: str | None = None
        path = self._repo_path(repo, "tags", "list")
        while True:
            response = self._call(repo, "GET", path, [repository_scope(repo.path, "pull")], url=url)
            if response.status != 200:
                raise self._error(response, f"cannot list tags of {repo.name}", repo)
            try:
                tags.extend(json.loads(response.body).get("tags") or [])
            except (ValueError, AttributeError):
                raise RegistryError(
                    f"tag list of {repo.name} is not JSON", status=response.status
                ) from None
            link = _next_link(response.headers.get("Link"))
            if not link:
                return tags
            base = url or self._endpoint(repo.domain).base_url + path
            url = urljoin(base, link)
            if urlsplit(url).netloc != urlsplit(base).netloc:
                raise TransportError(f"refusing tag-list page on another host: {redact_url(url)}")

    # -- blobs --------------------------------------------------------------------------

    def blob_exists(self, repo: Reference, digest: str) -> bool:
        response = self._call(
            repo,
            "HEAD",
            self._repo_path(repo, "blobs", digest),
            [repository_scope(repo.path, "pull")],
        )
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        raise self._error(response, f"cannot check blob {digest} in {repo.name}", repo)

    def get_blob(self, repo: Reference, digest: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        """A small blob (an image config) in memory, verified against its digest."""
        response = self._get_blob(repo, digest, read_limit=limit, truncate=False)
        if response.status != 200:
            raise self._error(response, f"cannot fetch blob {digest} from {repo.name}", repo)
        verify_digest(response.body, digest, f"blob {digest} of {repo.name}")
        return response.body

    def open_blob(self, repo: Reference, digest: str) -> Iterator[bytes]:
        """Stream a blob of any size; the digest is checked when the stream ends."""
        response = self._get_blob(repo, digest, stream=True)
        if response.status != 200:
            raise self._error(response, f"cannot fetch blob {digest} from {repo.name}", repo)
        return _verified_stream(response, digest, f"blob {digest} of {repo.name}")

    def _get_blob(
        self,
        repo: Reference,
        digest: str,
        *,
        stream: bool = False,
        read_limit: int = 1024 * 1024,
        truncate: bool = True,
    ) -> HttpResponse:
        """GET a blob. Registries redirect to presigned storage URLs (ECR to S3, ACR, GHCR,
        Quay), which get no Authorization; one that expired (403) is asked for again."""
        for _ in range(2):
            response = self._call(
                repo,
                "GET",
                self._repo_path(repo, "blobs", digest),
                [repository_scope(repo.path, "pull")],
                stream=stream,
                read_limit=read_limit,
                truncate=truncate,
            )
            registry = self._endpoint(repo.domain).base_url
            if response.status != 403 or authority(response.url) == authority(registry):
                break
            response.close()
        return response

    def mount_blob(self, repo: Reference, digest: str, source: Reference) -> bool:
        """Cross-repository mount. True when mounted (201); False when the registry
        refused, whatever it answered (202: the upload session it opened instead is
        cancelled; Harbor's 401 for an unknown `from` project; 404, 405...): a copy still
        works. Only a rate limit or a missing target repository is raised: a copy would
        meet them too."""
        query = urlencode({"mount": digest, "from": source.path})
        response = self._call(
            repo,
            "POST",
            self._repo_path(repo, "blobs", "uploads/") + "?" + query,
            [repository_scope(repo.path, "pull", "push"), repository_scope(source.path, "pull")],
        )
        if response.status == 201:
            return True
        if response.status == 202:
            self._cancel_upload(repo, response)
            return False
        refused = self._error(
            response, f"cannot mount {digest} from {source.path} into {repo.name}", repo, push=True
        )
        if isinstance(refused, TooManyRequestsError | RepositoryNotFoundError):
            raise refused
        log.debug("%s; copying the blob instead", refused)
        return False

    def upload_blob(self, repo: Reference, digest: str, body: BodySource) -> None:
        """Monolithic upload (POST, then PUT with the whole body), verified by digest."""
        scopes = [repository_scope(repo.path, "pull", "push")]
        start = self._call(repo, "POST", self._repo_path(repo, "blobs", "uploads/"), scopes)
        if start.status != 202 or not start.headers.get("Location"):
            raise self._error(
                start, f"cannot start upload of {digest} to {repo.name}", repo, push=True
            )
        location = urljoin(start.url, start.headers["Location"])
        sep = "&" if urlsplit(location).query else "?"
        put_url = location + sep + urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream"}
        if body.size is not None:
            headers["Content-Length"] = str(body.size)
        done = self._call(repo, "PUT", "", scopes, url=put_url, headers=headers, body=body)
        if done.status not in (201, 204):
            raise self._error(done, f"cannot upload blob {digest} to {repo.name}", repo, push=True)

    def copy_blob(
        self, source: Reference, target: Reference, digest: str, size: int | None
    ) -> None:
        """Stream a blob from one repository (any registry) into another, constant memory."""
        self.upload_blob(target, digest, self.blob_body(source, digest, size))

    def blob_body(self, source: Reference, digest: str, size: int | None) -> BodySource:
        """A remote blob as an upload body: re-opened for every attempt, so a retried PUT
        re-sends it whole; verified against its digest as it streams."""
        return BodySource(lambda: self.open_blob(source, digest), size)

    def _cancel_upload(self, repo: Reference, response: HttpResponse) -> None:
        location = response.headers.get("Location")
        if not location:
            return
        try:
            self._call(
                repo,
                "DELETE",
                "",
                [repository_scope(repo.path, "pull", "push")],
                url=urljoin(response.url, location),
            )
        except (RegistryError, TransportError):
            pass  # best effort: distribution wants the delete action for this

    def _who(self, ref: Reference) -> str | None:
        """The user an error message should name; a credential problem must not hide
        the registry's error, so it yields None."""
        try:
            credential = self.keychain.resolve(ref.domain)
        except CredentialsError:
            return None
        return credential.username if credential else None

    def _error(
        self,
        response: HttpResponse,
        what: str,
        ref: Reference,
        *,
        push: bool = False,
        writes_tag: bool = False,
    ) -> RegistryError:
        """The typed error for a failed reply to a request about `ref`."""
        user = self._who(ref)
        endpoint = self._endpoints.get(api_host(ref.domain))
        caller = _Caller(
            registry=ref.domain,
            repo=ref.path,
            user=user,
            token_auth=bool(user and endpoint and endpoint.auth.scheme == "bearer"),
            push=push,
            tag=ref.tag if writes_tag else None,
        )
        return _registry_error(response, what, caller)


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for part in header.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return part[part.index("<") + 1 : part.index(">")]
    return None


def _verified_stream(response: HttpResponse, digest: str, what: str) -> Iterator[bytes]:
    hasher = hashlib.sha256()
    try:
        for chunk in response.iter_content(1 << 20):
            hasher.update(chunk)
            yield chunk
    finally:
        response.close()
    actual = "sha256:" + hasher.hexdigest()
    if actual != digest:
        raise DigestMismatchError(f"{what}: content digest {actual} does not match {digest}")


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
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
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
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        return detail["message"]
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


def _registry_error(response: HttpResponse, what: str, caller: _Caller) -> RegistryError:
    """Turn an error reply into the typed exception a caller can act on."""
    status = response.status
    errors = _parse_errors(response.body)
    codes = {e.code for e in errors}
    said = _said(response, errors)
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


def _renewing(fetch: Callable[[], str | None], renew: Callable[[], bool]) -> str | None:
    """`fetch()` an Authorization value; when a token server refuses the credentials,
    renew them once and fetch again."""
    try:
        return fetch()
    except CredentialsRejectedError:
        if not renew():
            raise
        return fetch()


def _credential_stale(response: HttpResponse, scheme: str | None) -> bool:
    """A reply that a credential read again might fix: Basic credentials refused (an
    ECR password is valid 12 hours), or any "token has expired" answer."""
    if response.status not in (401, 403) or scheme is None:
        return False
    if scheme == "basic":
        return True
    return b"expired" in response.body[:4096].lower()
