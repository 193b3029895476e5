"""Registry operations over the v2 API: manifests, blobs, mounts, uploads, tags.

One RegistryClient serves a whole invocation: it pings each registry once, keeps its
challenge and tokens, and reuses connections. It is safe to share between the threads
of a small pool. Every registry error becomes a typed exception carrying the
registry's own error codes, in the words each hosted registry uses (Artifactory's
`status` bodies, Docker Hub's plain-text 429, immutable tags, missing repositories).
Rate-limit headers are watched and a limit that is near is reported once per host."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from manifestor.errors import (
    CancelledError,
    CredentialsError,
    DeadlineError,
    DigestMismatchError,
    MalformedResponseError,
    ManifestorError,
    NotFoundError,
    RegistryError,
    RepositoryNotFoundError,
    TLSError,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
)
from manifestor.local.cache import ContentCache
from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.oci import (
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    Manifest,
    check_manifest_size,
    load_json,
    parse_manifest,
    strip_media_type,
    verified_chunks,
    verify_digest,
)
from manifestor.model.reference import Reference, api_host
from manifestor.remote.auth import (
    Authenticator,
    AuthRequest,
    RegistryRequest,
    Scope,
    TokenCache,
    TokenRequest,
    drive,
    parse_challenges,
    pick_challenge,
    repository_scope,
    send_token_request,
)
from manifestor.remote.deadline import Deadline
from manifestor.remote.jobs import Jobs
from manifestor.remote.ratelimit import read_rate_limit
from manifestor.remote.redact import redact_url
from manifestor.remote.replies import Caller, registry_error
from manifestor.remote.response import HttpResponse
from manifestor.remote.retry import RETRY_STATUSES, RetryPolicy
from manifestor.remote.transport import Transport
from manifestor.remote.urls import authority, join_url

log = logging.getLogger("manifestor.http")
# Rate limits near or hit are warnings a user sees (on stderr, by logging's last resort).
_notices = logging.getLogger("manifestor")

ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)
_DIGEST_HEADER = re.compile(r"sha256:[a-f0-9]{64}")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,16}")
# Image configs are small JSON documents; cap them like manifests, a little wider.
MAX_CONFIG_BYTES = 8 * 1024 * 1024
# How long a stopped run waits for its tasks to stop and delete their upload sessions.
CLEANUP_SECONDS = 0.8
# Blobs this large (or of unknown size) are streamed with PATCH; smaller ones go whole.
STREAM_UPLOAD_BYTES = 4 * 1024 * 1024
# One page of a tag list. Registries that do not paginate (distribution 2.8 ignores `n`)
# send every tag at once: 64 MiB is about a million long tags. Past it: an error, never a
# page cut short (which would read as broken JSON, or as fewer tags).
MAX_TAG_PAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD tells about a manifest: enough to compare without downloading."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class PutReceipt:
    """A manifest PUT the registry accepted; `confirmed` when its reply named the digest
    (distribution, and registries built on it, do), which proves what it stored."""

    digest: str
    confirmed: bool


@dataclass
class _Endpoint:
    base_url: str
    auth: Authenticator
    # False: the scheme is a guess no registry reply has confirmed yet (no ping was sent).
    settled: bool = True


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
        jobs: Jobs | None = None,
        cache: ContentCache | None = None,
        deadline: Deadline | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.transport = transport or Transport(
            insecure=insecure, certs_dir=certs_dir, retry=retry, deadline=deadline
        )
        # The run's scheduler: every request below passes its per-host gate.
        self.jobs = jobs or Jobs()
        # Manifests and configs by digest, so a re-run need not download them again.
        self.cache = cache
        # Rate limits near or hit are told here (default: a warning on stderr).
        self.notice = notice or _notices.warning
        self._quota_noted: dict[str, str] = {}
        self.keychain = keychain or Keychain()
        self._tokens = TokenCache()
        self._endpoints: dict[str, _Endpoint] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self.jobs.close()
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            # Whatever ended the run (Ctrl-C, the first failure) stops the work still in
            # flight; give it a moment to stop and delete its upload sessions.
            self.jobs.cancel("interrupted" if exc_type is KeyboardInterrupt else "cancelled")
            self.jobs.wait_idle(CLEANUP_SECONDS)
        self.close()

    # -- endpoints and authenticated calls ----------------------------------------------

    def ping(self, domain: str) -> None:
        """Reach a registry and learn how it authenticates (done once per host)."""
        self._endpoint(domain, ping=True)

    def _endpoint(self, domain: str, *, ping: bool = False) -> _Endpoint:
        """The registry's endpoint: its base URL and authenticator.

        No `GET /v2/` ping when nothing needs it: one round trip fewer per run.
        A registry no credential is configured for gets its first real request sent
        straight to the scheme a ping would try first, anonymously: a 401 brings the
        challenge then, as the ping's would, and `_call` falls back to the ping when the
        reply leaves doubt about the scheme or the server (see `_settled_by`). With
        credentials configured the ping stays, so a credential is only sent where a
        challenge asked for it. `ping=True` asks for the ping (login needs its answer)."""
        host = api_host(domain)
        with self._lock:
            endpoint = self._endpoints.get(host)
            lock = self._host_locks.setdefault(host, threading.Lock())
        if endpoint is not None and (endpoint.settled or not ping):
            return endpoint
        with lock:
            endpoint = self._endpoints.get(host)
            if endpoint is not None and (endpoint.settled or not ping):
                return endpoint
            if not ping and not self.keychain.may_have(domain):
                base = self.transport.guess_base(host)
                auth = Authenticator(self.transport, base, None, None, self._tokens)
                endpoint = _Endpoint(base, auth, settled=False)
            else:
                endpoint = self._pinged(domain, host)
            with self._lock:
                self._endpoints[host] = endpoint
            return endpoint

    def preconnect(self, domain: str, count: int, *, ready: int = 0) -> None:
        """Open `count` connections to `domain` now, for requests that will follow at once
        (see Transport.preconnect); never more than the per-host limit. A hint: it sends
        no request itself, though a registry that is pinged (credentials configured) is
        pinged now rather than a moment later."""
        endpoint = self._endpoint(domain)
        count = min(count, self.jobs.per_host)
        self.transport.preconnect(endpoint.base_url, count, ready=min(ready, count))

    def _pinged(self, domain: str, host: str) -> _Endpoint:
        with self.jobs.gate(host):
            response = self.transport.ping(host)
        base = self.transport.base_url(host)
        assert base is not None
        if response.status in RETRY_STATUSES:
            raise registry_error(response, f"registry {host} is not answering", Caller(host, ""))
        if response.status not in (200, 401):
            raise TransportError(
                f"{host} does not look like a registry: GET /v2/ answered {response.describe()}"
            )
        challenge = pick_challenge(parse_challenges(response.challenges))
        credential = self.keychain.resolve(domain) if challenge is not None else None
        auth = Authenticator(self.transport, base, challenge, credential, self._tokens)
        return _Endpoint(base, auth)

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
        retry: bool | None = None,
        expected_bytes: int | None = None,
    ) -> HttpResponse:
        """One authenticated request through the run's gate. A body is never cut off by a
        cancel: a request broken off mid-body leaves an upload session that distribution
        cannot delete, so only the streamed upload ends its own body, cleanly."""
        scopes = tuple(scopes)
        endpoint = self._endpoint(repo.domain)
        if not endpoint.settled and (url is not None or method not in ("GET", "HEAD")):
            # Only a read is sent to a guessed scheme: it can be sent again elsewhere.
            endpoint = self._endpoint(repo.domain, ping=True)

        def send(request: AuthRequest) -> HttpResponse:
            if isinstance(request, TokenRequest):
                return send_token_request(self.transport, request)
            # A streamed reply gives its slot back once its headers are in: the body is
            # read by whoever consumes it, often inside another request's slot.
            with self.jobs.gate(authority(request.url)):
                return self.transport.request(
                    request.method,
                    request.url,
                    headers=headers,
                    authorization=request.authorization,
                    body=body,
                    stream=stream,
                    read_limit=read_limit,
                    truncate=truncate,
                    retry=retry,
                    expected_bytes=expected_bytes,
                )

        def exchange(endpoint: _Endpoint) -> HttpResponse:
            request = RegistryRequest(method, url or endpoint.base_url + path, tuple(scopes))
            return drive(endpoint.auth.flow(request, self.keychain, repo.domain), send)

        if endpoint.settled:
            response = exchange(endpoint)
        else:
            response = self._first_exchange(repo.domain, endpoint, exchange)
            endpoint = self._endpoint(repo.domain)
        target = url or endpoint.base_url + path
        if authority(target) == authority(endpoint.base_url):
            # Rate limits are the registry's; another host (an upload Location) has its own.
            self._watch_quota(repo.domain, response)
        return response

    def _first_exchange(
        self,
        domain: str,
        guessed: _Endpoint,
        exchange: Callable[[_Endpoint], HttpResponse],
    ) -> HttpResponse:
        """A read sent to a guessed scheme, unpinged. A reply only a registry gives there
        settles the scheme; anything else (no answer, a 400 from a TLS port, a reply that
        may not be a registry's) is settled by the ping, which also says what is wrong,
        and the read is sent again where the ping found the registry."""
        host = api_host(domain)
        try:
            response = exchange(guessed)
        except TLSError as error:
            # No TLS there (a plain-HTTP registry allowed by --insecure) or a certificate
            # problem: the ping tries the next scheme, or reports the certificate.
            log.debug("%s: first request failed (%s); pinging", host, error)
            return exchange(self._endpoint(domain, ping=True))
        if _settled_by(response):
            self.transport.confirm_base(host, guessed.base_url)
            guessed.settled = True
            return response
        log.debug("%s: first reply %d leaves doubt; pinging", host, response.status)
        pinged = self._endpoint(domain, ping=True)
        if pinged.base_url == guessed.base_url:
            return response  # the registry's own answer, on the right scheme
        response.close()
        return exchange(pinged)

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
        endpoint = self._endpoint(domain, ping=True)
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
        digest = response.headers.get("Docker-Content-Digest", "").strip()
        if response.status == 200 and _DIGEST_HEADER.fullmatch(digest):
            if ref.digest and digest != ref.digest:
                raise DigestMismatchError(
                    f"{ref}: registry reports digest {digest}, not the requested {ref.digest}"
                )
            length = (response.headers.get("Content-Length") or "").strip()
            size = int(length) if _CONTENT_LENGTH.fullmatch(length) else 0
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
        and the registry's Docker-Content-Digest, capped at 4 MiB. By digest, a copy in
        the cache (checked against the digest) saves the request."""
        if ref.digest and (cached := self._cached_manifest(ref)) is not None:
            return cached
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
        announced = response.headers.get("Docker-Content-Digest", "").strip()
        if _DIGEST_HEADER.fullmatch(announced):
            verify_digest(response.body, announced, f"{what} (Docker-Content-Digest)")
        self._remember(manifest)
        return manifest

    def _cached_manifest(self, ref: Reference) -> Manifest | None:
        raw = self.cache.get(ref.digest) if self.cache and ref.digest else None
        if raw is None:
            return None
        try:
            return parse_manifest(raw, None, f"cached manifest {ref.digest}")
        except ManifestorError:
            return None

    def _remember(self, manifest: Manifest) -> None:
        # Only a manifest that names its own media type can be read back from bytes alone.
        if self.cache is not None and isinstance(manifest.body.get("mediaType"), str):
            self.cache.put(manifest.digest, manifest.raw)

    def put_manifest(self, ref: Reference, manifest: Manifest) -> PutReceipt:
        """PUT exact manifest bytes to `ref` (a tag or a digest). The receipt says whether
        the registry confirmed the digest (Docker-Content-Digest in its reply)."""
        check_manifest_size(manifest.size, f"manifest for {ref}")
        if ref.digest and ref.digest != manifest.digest:
            raise DigestMismatchError(
                f"refusing to put manifest {manifest.digest} under digest {ref.digest}"
            )
        # The same bytes under the same name: repeating the PUT cannot do anything twice.
        response = self._call(
            ref,
            "PUT",
            self._repo_path(ref, "manifests", ref.identifier),
            [repository_scope(ref.path, "pull", "push")],
            headers={"Content-Type": manifest.media_type},
            body=BodySource.of_bytes(manifest.raw),
            retry=True,
        )
        if response.status not in (200, 201, 202):
            raise self._error(
                response,
                f"cannot push manifest {ref}",
                ref,
                push=True,
                writes_tag=ref.digest is None and ref.tag is not None,
            )
        announced = (response.headers.get("Docker-Content-Digest") or "").strip()
        if _DIGEST_HEADER.fullmatch(announced) and announced != manifest.digest:
            raise DigestMismatchError(
                f"registry stored {ref} as {announced}, "
                f"but the bytes sent hash to {manifest.digest}"
            )
        self._remember(manifest)
        return PutReceipt(manifest.digest, confirmed=announced == manifest.digest)

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
            response = self._call(
                repo,
                "GET",
                path,
                [repository_scope(repo.path, "pull")],
                url=url,
                read_limit=MAX_TAG_PAGE_BYTES,
                truncate=False,
            )
            if response.status != 200:
                raise self._error(response, f"cannot list tags of {repo.name}", repo)
            payload = load_json(response.body, f"tag list of {repo.name}", MalformedResponseError)
            page = payload.get("tags") if isinstance(payload, dict) else None
            if page is not None and (
                not isinstance(page, list) or not all(isinstance(t, str) for t in page)
            ):
                raise MalformedResponseError(f"tag list of {repo.name}: tags is not a list")
            tags.extend(page or [])
            link = _next_link(response.headers.get("Link"))
            if not link:
                return tags
            base = url or self._endpoint(repo.domain).base_url + path
            url = join_url(base, link, f"tag list Link header of {repo.name}")
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
        if self.cache is not None and (cached := self.cache.get(digest)) is not None:
            return cached
        response = self._get_blob(repo, digest, read_limit=limit, truncate=False)
        if response.status != 200:
            raise self._error(response, f"cannot fetch blob {digest} from {repo.name}", repo)
        verify_digest(response.body, digest, f"blob {digest} of {repo.name}")
        if self.cache is not None:
            self.cache.put(digest, response.body)
        return response.body

    def open_blob(self, repo: Reference, digest: str, size: int | None = None) -> Iterator[bytes]:
        """Stream a blob of any size, counted and hashed as it comes: it stops at the first
        byte past `size`, and before its last chunk when the content is short or does not
        hash to `digest`, blaming the source."""
        response = self._get_blob(repo, digest, stream=True, expected_bytes=size)
        if response.status != 200:
            raise self._error(response, f"cannot fetch blob {digest} from {repo.name}", repo)
        return _closing(
            response,
            verified_chunks(
                response.iter_content(1 << 20),
                digest,
                size,
                f"source blob {digest} of {repo.domain}/{repo.path}",
            ),
        )

    def _get_blob(
        self,
        repo: Reference,
        digest: str,
        *,
        stream: bool = False,
        read_limit: int = 1024 * 1024,
        truncate: bool = True,
        expected_bytes: int | None = None,
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
                expected_bytes=expected_bytes,
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
        meet them too. A lost reply is answered by a HEAD of the blob."""
        query = urlencode({"mount": digest, "from": source.path})
        try:
            response = self._call(
                repo,
                "POST",
                self._repo_path(repo, "blobs", "uploads/") + "?" + query,
                [
                    repository_scope(repo.path, "pull", "push"),
                    repository_scope(source.path, "pull"),
                ],
                retry=False,
            )
        except DeadlineError:
            raise
        except TransportError:
            return self.blob_exists(repo, digest)
        if response.status == 201:
            return True
        if response.status == 202:
            self._cancel_upload(repo, response)
            return False
        if response.status in RETRY_STATUSES and response.status != 429:
            # A failing mount may still have happened; else the copy (an upload unit,
            # with its own retries) follows.
            return self.blob_exists(repo, digest)
        refused = self._error(
            response, f"cannot mount {digest} from {source.path} into {repo.name}", repo, push=True
        )
        if isinstance(refused, TooManyRequestsError | RepositoryNotFoundError):
            raise refused
        log.debug("%s; copying the blob instead", refused)
        return False

    def upload_blob(self, repo: Reference, digest: str, body: BodySource) -> None:
        """Upload a blob, verified by digest: a small one whole (POST, then PUT with the
        body); a large one streamed (POST, PATCH with the body, PUT to finish), so that a
        run that stops mid-way can still end the PATCH cleanly and delete the session.

        The POST and the PUT are never repeated on their own: the registry may have done
        either. The unit is retried instead: after a failure whose outcome is unknown (a
        lost reply, a 5xx), a HEAD tells whether the blob arrived; if not, the session is
        cancelled and a new upload starts, within the attempts and budget of the retry
        policy. A source that does not match its descriptor ends it at once."""
        policy = self.transport.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and self.blob_exists(repo, digest):
                log.debug("blob %s arrived although its reply was lost", digest)
                return
            try:
                self._upload_once(repo, digest, body)
                return
            except _UploadFailed as failed:
                problem = failed.cause
            delay = min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1))
            used = time.monotonic() - started
            left = self.transport.remaining()
            if (
                attempt >= policy.attempts
                or used + delay > policy.budget
                or (left is not None and delay >= left)
            ):
                if self.blob_exists(repo, digest):
                    return
                raise problem
            log.debug("upload of %s failed (%s); trying the upload again", digest, problem)
            self.transport.sleep(delay)

    def _upload_once(self, repo: Reference, digest: str, body: BodySource) -> None:
        scopes = [repository_scope(repo.path, "pull", "push")]
        try:
            start = self._call(
                repo, "POST", self._repo_path(repo, "blobs", "uploads/"), scopes, retry=False
            )
        except DeadlineError:
            raise
        except TransportError as exc:
            raise _UploadFailed(exc) from None
        if start.status in RETRY_STATUSES:
            raise _UploadFailed(
                self._error(start, f"cannot start upload of {digest} to {repo.name}", repo)
            )
        if start.status != 202 or not start.headers.get("Location"):
            raise self._error(
                start, f"cannot start upload of {digest} to {repo.name}", repo, push=True
            )
        location = join_url(
            start.url, start.headers["Location"], f"upload Location from {repo.domain}"
        )
        headers = {"Content-Type": "application/octet-stream"}
        if body.size is None or body.size >= STREAM_UPLOAD_BYTES:
            location = self._stream_upload(repo, scopes, location, body)
            body = BodySource.of_bytes(b"")
        if body.size is not None:
            headers["Content-Length"] = str(body.size)
        put_url = _with_query(location, digest=digest)
        done = self._in_session(
            repo, location, "PUT", scopes, url=put_url, headers=headers, body=body
        )
        if done.status in (201, 204):
            return
        error = self._error(done, f"cannot upload blob {digest} to {repo.name}", repo, push=True)
        self._cancel(repo, location)
        # BLOB_UPLOAD_UNKNOWN: the session is gone, perhaps because an earlier PUT of it
        # committed. Like a 5xx, only a HEAD can tell.
        if done.status in RETRY_STATUSES or "BLOB_UPLOAD_UNKNOWN" in error.codes:
            raise _UploadFailed(error)
        raise error

    def _in_session(
        self,
        repo: Reference,
        location: str,
        method: str,
        scopes: list[Scope],
        **request: Any,
    ) -> HttpResponse:
        """A request of an open upload session, never repeated on its own. Whatever stops it
        (a deadline, a broken connection, a source that failed its checks, Ctrl-C) gives
        the session up, and cancels it; a broken connection is worth another try of the
        whole upload (`_UploadFailed`)."""
        try:
            return self._call(repo, method, "", scopes, retry=False, **request)
        except DeadlineError:
            self._cancel(repo, location)
            raise
        except TransportError as exc:
            self._cancel(repo, location)
            raise _UploadFailed(exc) from None
        except BaseException:
            self._cancel(repo, location)
            raise

    def _stream_upload(
        self, repo: Reference, scopes: list[Scope], location: str, body: BodySource
    ) -> str:
        """PATCH the whole body as one stream; returns the session's next location. When
        the run is cancelled, or the source fails, the stream ends early but cleanly: the
        registry then answers with the session's state, which lets it be deleted (a
        session whose request broke off cannot be: its recorded offset is stale)."""
        stopped: list[BaseException] = []
        token = self.jobs.token

        def chunks() -> Iterator[bytes]:
            try:
                for chunk in body.chunks():
                    if token.cancelled:
                        stopped.append(CancelledError(token.reason))
                        return
                    yield chunk
            except Exception as error:  # noqa: BLE001 - raised once the PATCH has ended
                stopped.append(error)

        sent = self._in_session(
            repo,
            location,
            "PATCH",
            scopes,
            url=location,
            headers={"Content-Type": "application/octet-stream"},
            body=BodySource(chunks),
        )
        if sent.status != 202 or not sent.headers.get("Location"):
            self._cancel(repo, location)
            if stopped:
                raise stopped[0]
            raise self._error(sent, f"cannot upload a blob to {repo.name}", repo, push=True)
        location = join_url(
            sent.url, sent.headers["Location"], f"upload Location from {repo.domain}"
        )
        if stopped:
            self._cancel(repo, location)
            raise stopped[0]
        return location

    def copy_blob(
        self, source: Reference, target: Reference, digest: str, size: int | None
    ) -> None:
        """Stream a blob from one repository (any registry) into another, constant memory."""
        self.upload_blob(target, digest, self.blob_body(source, digest, size))

    def blob_body(self, source: Reference, digest: str, size: int | None) -> BodySource:
        """A remote blob as an upload body: re-opened for every attempt, so a retried upload
        re-sends it whole; verified against its descriptor as it streams."""
        return BodySource(lambda: self.open_blob(source, digest, size), size)

    def _cancel_upload(self, repo: Reference, response: HttpResponse) -> None:
        location = response.headers.get("Location")
        if not location:
            return
        try:
            url = join_url(response.url, location, f"upload Location from {repo.domain}")
        except MalformedResponseError:
            return
        self._cancel(repo, url)

    def _cancel(self, repo: Reference, location: str) -> None:
        """DELETE an upload session that is given up (best effort), even when the run is
        being cancelled."""
        with self.jobs.shielded():
            try:
                self._call(
                    repo, "DELETE", "", [repository_scope(repo.path, "pull", "push")], url=location
                )
            except (RegistryError, TransportError):
                pass  # distribution purges abandoned sessions after a week

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
        caller = Caller(
            registry=ref.domain,
            repo=ref.path,
            user=user,
            token_auth=bool(user and endpoint and endpoint.auth.scheme == "bearer"),
            push=push,
            tag=ref.tag if writes_tag else None,
        )
        return registry_error(response, what, caller)


def _settled_by(response: HttpResponse) -> bool:
    """Whether a reply to a read sent to a guessed scheme shows a registry answering on it.
    A 400 may be a TLS port answering plain HTTP, and a 404 without a registry's words (its
    API version header, or a JSON error body) may come from a server that is no registry:
    the ping tells. Any other answer is the registry's, errors included."""
    if response.status == 400:
        return False
    if response.status == 404:
        return bool(
            response.headers.get("Docker-Distribution-API-Version")
            or response.body.lstrip().startswith(b"{")
        )
    return True


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class _UploadFailed(Exception):
    """One upload attempt failed in a way a new attempt may fix."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _closing(response: HttpResponse, chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        response.close()


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for part in header.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return part[part.index("<") + 1 : part.index(">")]
    return None
