"""Authentication on the wire: challenges, scopes, tokens, and the flow that uses them.

Handshake: `GET /v2/` answers 200 (no auth) or 401 with WWW-Authenticate challenges.
Bearer (preferred): fetch a token from the realm for the scopes a request needs — GET
with Basic credentials, or an OAuth2 POST when we hold an identity (refresh) token,
falling back to GET when the POST is refused — and cache it per scope set until it
expires. Basic: send the credentials to the registry host itself. A 401 naming
`insufficient_scope` earns exactly one fresh token with the added scope. A credential
that stops working during a run (ECR's 12-hour passwords, a refresh token) is read
again once; stale credentials on a pull-only request fall back to an anonymous token,
so a public read still works.

All of it is one flow per request (`Authenticator.flow`), as in httpx: a generator that
yields the requests to send (the registry request, token requests) and is sent each
reply, so the client only drives it (`drive`) and tests script the replies."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import math
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

from manifestor.errors import AuthError, CredentialsRejectedError, MalformedResponseError
from manifestor.local.keychain import Credential
from manifestor.model.body import BodySource
from manifestor.model.reference import is_loopback_host
from manifestor.remote.redact import redact_url
from manifestor.remote.response import HttpResponse
from manifestor.remote.transport import Transport
from manifestor.remote.urls import authority, join_url

TOKEN_BODY_LIMIT = 64 * 1024
MIN_TOKEN_LIFETIME = 60.0
# Renew a little early so a token does not expire between fetch and use.
TOKEN_EXPIRY_MARGIN = 5.0
TOKEN_TIMEOUT = (10.0, 15.0)
CLIENT_ID = "manifestor"
# ACR's `docker login` user for an AAD refresh token given as the password.
REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
_ACTION_ORDER = {"pull": 0, "push": 1, "delete": 2}


# -- challenges ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """One RFC 7235 challenge: a lower-cased scheme and lower-cased parameter names."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Parse every challenge in every WWW-Authenticate header, tolerating junk."""
    found: list[Challenge] = []
    for header in headers:
        found.extend(_parse_header(header))
    return found


def _parse_header(text: str) -> list[Challenge]:
    challenges: list[Challenge] = []
    pos, n = 0, len(text)
    scheme: str | None = None
    params: dict[str, str] = {}

    def skip(chars: str) -> None:
        nonlocal pos
        while pos < n and text[pos] in chars:
            pos += 1

    while pos < n:
        skip(" \t,")
        match = _TOKEN_RE.match(text, pos)
        if not match:
            pos += 1  # skip a stray character rather than fail
            continue
        word = match.group(0)
        after = match.end()
        look = after
        while look < n and text[look] in " \t":
            look += 1
        if look < n and text[look] == "=" and scheme is not None:
            pos = look + 1
            while pos < n and text[pos] in " \t":
                pos += 1
            value, pos = _read_value(text, pos)
            params[word.lower()] = value
        else:
            if scheme is not None:
                challenges.append(Challenge(scheme, params))
            scheme, params, pos = word.lower(), {}, after
    if scheme is not None:
        challenges.append(Challenge(scheme, params))
    return challenges


def _read_value(text: str, pos: int) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        pos += 1
        out: list[str] = []
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            out.append(text[pos])
            pos += 1
        return "".join(out), pos + 1  # an unterminated quote simply ends the header
    match = _TOKEN_RE.match(text, pos)
    if not match:
        return "", pos
    # token68 values (base64) may end in '=' padding
    end = match.end()
    while end < len(text) and text[end] == "=":
        end += 1
    return text[pos:end], end


def pick_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """Bearer if offered, else Basic; other schemes (Negotiate, ...) are not ours."""
    by_scheme = {c.scheme: c for c in reversed(list(challenges))}
    return by_scheme.get("bearer") or by_scheme.get("basic")


# -- scopes -------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Scope:
    """`repository:lab/app:pull,push`. A resource name may itself contain ':'."""

    resource_type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        actions = sorted(self.actions, key=lambda a: (_ACTION_ORDER.get(a, 9), a))
        return f"{self.resource_type}:{self.name}:{','.join(actions)}"

    def covers(self, other: Scope) -> bool:
        return (
            self.resource_type == other.resource_type
            and self.name == other.name
            and self.actions >= other.actions
        )


def parse_scope(text: str) -> Scope:
    """Type up to the first ':', actions after the last ':', the name in between."""
    head, sep, actions = text.rpartition(":")
    resource_type, sep2, name = head.partition(":")
    if not sep or not sep2 or not resource_type or not name:
        raise AuthError(f"malformed token scope {text!r}")
    return Scope(resource_type, name, frozenset(a for a in actions.split(",") if a))


def repository_scope(repository: str, *actions: str) -> Scope:
    return Scope("repository", repository, frozenset(actions))


def merge_scopes(scopes: Iterable[Scope]) -> frozenset[Scope]:
    """One scope per resource, with the union of actions (one token covers them all)."""
    merged: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        merged.setdefault((scope.resource_type, scope.name), set()).update(scope.actions)
    return frozenset(Scope(t, n, frozenset(a)) for (t, n), a in merged.items())


# -- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    scopes: frozenset[Scope]
    expires_at: float

    def covers(self, scopes: Iterable[Scope]) -> bool:
        return all(any(mine.covers(s) for mine in self.scopes) for s in scopes)


class TokenCache:
    """Bearer tokens per (realm, service, credential), reused while they cover a scope set."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], list[Token]] = {}
        self._lock = threading.Lock()

    def find(self, key: tuple[str, str, str], scopes: frozenset[Scope]) -> Token | None:
        now = self._clock()
        with self._lock:
            live = [
                t for t in self._tokens.get(key, []) if t.expires_at - TOKEN_EXPIRY_MARGIN > now
            ]
            self._tokens[key] = live
            for token in live:
                if token.covers(scopes):
                    return token
        return None

    def add(self, key: tuple[str, str, str], token: Token) -> None:
        with self._lock:
            self._tokens.setdefault(key, []).append(token)

    def tokens(self, key: tuple[str, str, str]) -> list[Token]:
        with self._lock:
            return list(self._tokens.get(key, []))

    def discard(self, key: tuple[str, str, str], value: str) -> None:
        with self._lock:
            self._tokens[key] = [t for t in self._tokens.get(key, []) if t.value != value]


def token_expiry(payload: Mapping[str, object], now: float) -> float:
    """`issued_at + max(expires_in, 60)`; a clock-skewed issued_at is replaced by now."""
    try:
        lifetime = float(payload.get("expires_in") or 0)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        lifetime = 0.0
    if not math.isfinite(lifetime):
        lifetime = 0.0
    lifetime = max(lifetime, MIN_TOKEN_LIFETIME)
    issued = now
    text = payload.get("issued_at")
    if isinstance(text, str):
        try:
            stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            stamp = now
        if stamp <= now and stamp + lifetime > now:
            issued = stamp
    return issued + lifetime


# -- the requests a flow asks for ---------------------------------------------------------


@dataclass(frozen=True)
class RegistryRequest:
    """A request to the registry and the scopes it needs; the flow adds the Authorization."""

    method: str
    url: str
    scopes: tuple[Scope, ...] = ()
    authorization: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenRequest:
    """A request to the token server: a GET with the scopes in its query, or, with `form`,
    the OAuth2 POST of a refresh token."""

    method: str
    url: str
    authorization: str | None = field(default=None, repr=False)
    form: str | None = field(default=None, repr=False)


AuthRequest = RegistryRequest | TokenRequest
_T = TypeVar("_T")
# A flow yields the requests to send, is sent each reply, and returns its result.
Flow = Generator[AuthRequest, HttpResponse, _T]


class CredentialStore(Protocol):
    """Where a registry's credential is read, and read again once it stopped working
    (the run's Keychain)."""

    def resolve(self, registry: str) -> Credential | None: ...

    def renew(self, registry: str) -> Credential | None: ...


def drive(flow: Flow[_T], send: Callable[[AuthRequest], HttpResponse]) -> _T:
    """Send each request `flow` yields and hand it the reply, until it returns a result.

    A reply the flow has moved past is closed. The flow is closed however this ends: a
    flow waiting for a token holds its endpoint's lock, and a failed send must free it."""
    reply: HttpResponse | None = None
    try:
        while True:
            try:
                request = next(flow) if reply is None else flow.send(reply)
            except StopIteration as done:
                result: _T = done.value
                if reply is not None and result is not reply:
                    reply.close()
                return result
            except BaseException:
                if reply is not None:
                    reply.close()
                raise
            if reply is not None:
                reply.close()
            reply = send(request)
    finally:
        flow.close()


def send_token_request(transport: Transport, request: TokenRequest) -> HttpResponse:
    """Token requests get their own timeout and a small body cap. The POST may be sent
    again on a broken connection: asking for a token twice does nothing twice."""
    if request.form is None:
        return transport.request(
            request.method,
            request.url,
            authorization=request.authorization,
            read_limit=TOKEN_BODY_LIMIT,
            timeout=TOKEN_TIMEOUT,
        )
    return transport.request(
        request.method,
        request.url,
        retry=True,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=BodySource.of_bytes(request.form.encode()),
        read_limit=TOKEN_BODY_LIMIT,
        timeout=TOKEN_TIMEOUT,
    )


# -- the authenticator ---------------------------------------------------------------------


class Authenticator:
    """How one registry host is authenticated: its challenge, the credential it was given,
    and the tokens it earned (in a cache shared by every thread of the run)."""

    def __init__(
        self,
        transport: Transport,
        registry_url: str,
        challenge: Challenge | None,
        credential: Credential | None,
        cache: TokenCache,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Used only by `authorization`; a flow sends nothing itself.
        self._transport = transport
        self._registry_url = registry_url
        self._challenge = challenge
        self._credential = credential
        self._cache = cache
        self._clock = clock
        self._refresh_token = _refresh_token_of(credential)
        self._renewed = False
        # Set when a pull fell back to an anonymous token: a registry that refuses that
        # token gets this error reported, not a permission problem.
        self.rejected: CredentialsRejectedError | None = None
        # Held while a token is fetched (across the flow's yields), so that threads needing
        # one scope set fetch it once; also while the challenge or credential changes.
        self._fetch_lock = threading.Lock()
        self.realm = (
            self._checked_realm(challenge) if challenge and challenge.scheme == "bearer" else None
        )

    @property
    def scheme(self) -> str | None:
        return self._challenge.scheme if self._challenge else None

    def flow(
        self, request: RegistryRequest, keychain: CredentialStore, domain: str
    ) -> Flow[HttpResponse]:
        """Send `request` authenticated; return the registry's final reply.

        Authorize for the request's scopes and send it. On the registry's own 401: take the
        challenge if the ping had none, else fetch a token with the scopes the challenge
        names, and send it once more. A credential that went stale is read again once and
        the request sent once more. `keychain` is asked for `domain`'s credential."""
        if authority(request.url) != authority(self._registry_url):
            # A URL the registry handed us (an upload Location) on another host: it gets
            # no credentials, like a redirect target.
            return (yield request)

        def renew() -> bool:
            return self._renew(lambda: keychain.renew(domain))

        scopes = request.scopes
        authorization = yield from self._renewing(lambda: self._authorize(scopes), renew)
        response = yield replace(request, authorization=authorization)
        # Re-authenticate only for the registry's own reply, never for a redirect target's.
        own_reply = authority(response.url) == authority(request.url)
        if own_reply and response.status in (401, 403) and self.rejected is not None:
            # Stale credentials fell back to an anonymous token, which was not enough.
            raise self.rejected
        if own_reply and response.status == 401:
            challenges = parse_challenges(response.challenges)
            if self._adopt(challenges, lambda: keychain.resolve(domain)):
                retry_auth = yield from self._renewing(lambda: self._authorize(scopes), renew)
            else:
                retry_auth = yield from self._renewing(
                    lambda: self._reauthorize(scopes, authorization, challenges), renew
                )
            if retry_auth is not None:
                response = yield replace(request, authorization=retry_auth)
        if own_reply and self._credential_stale(response) and renew():
            # A password that expired during the run (ECR's last 12 hours): read it again.
            authorization = yield from self._authorize(scopes)
            response = yield replace(request, authorization=authorization)
        return response

    def authorization(self, scopes: Iterable[Scope]) -> str | None:
        """The header value for a request needing `scopes` (None: send nothing), fetching
        a token over this authenticator's transport when none is cached."""

        def send(request: AuthRequest) -> HttpResponse:
            assert isinstance(request, TokenRequest)  # authorizing asks only the token server
            return send_token_request(self._transport, request)

        return drive(self._authorize(list(scopes)), send)

    # -- steps of the flow --

    def _renewing(
        self, authorize: Callable[[], Flow[str | None]], renew: Callable[[], bool]
    ) -> Flow[str | None]:
        """`authorize()`; when a token server refuses the credentials, renew them once
        and authorize again."""
        try:
            return (yield from authorize())
        except CredentialsRejectedError:
            if not renew():
                raise
            return (yield from authorize())

    def _authorize(self, scopes: Iterable[Scope]) -> Flow[str | None]:
        """The header value for a request needing `scopes`, from the cache when it can."""
        cred = self._credential
        if self._challenge is None:
            return None
        if cred and cred.registry_token:
            return f"Bearer {cred.registry_token}"
        if self._challenge.scheme == "basic":
            if cred and cred.username and cred.password is not None:
                return _basic(cred.username, cred.password)
            return None
        needed = merge_scopes(scopes)
        token = self._cache.find(self._cache_key(), needed)
        if token is None:
            with self._fetch_lock:  # concurrent requests for one scope set fetch once
                token = self._cache.find(self._cache_key(), needed)
                if token is None:
                    token = yield from self._fetch_token(needed)
                    self._cache.add(self._cache_key(), token)
        return f"Bearer {token.value}"

    def _adopt(
        self, challenges: Iterable[Challenge], credential: Callable[[], Credential | None]
    ) -> bool:
        """Take a challenge from a later 401 when the ping had none; True if it changed.

        A ping without a challenge looked up no credential, so `credential` is called now:
        registries that answer `/v2/` anonymously may still challenge on a repository."""
        picked = pick_challenge(challenges)
        with self._fetch_lock:
            if picked is None or self._challenge is not None:
                return False
            # Everything is worked out first, so a refused realm changes nothing.
            realm = self._checked_realm(picked) if picked.scheme == "bearer" else None
            found = credential()
            self._credential = found
            self._refresh_token = _refresh_token_of(found)
            self.realm = realm
            self._challenge = picked
            return True

    def _renew(self, credential: Callable[[], Credential | None]) -> bool:
        """Once per run, after the credential stopped working: read it again (a credential
        helper runs again) and drop the tokens it earned. True when it changed, so trying
        again can help."""
        with self._fetch_lock:
            if self._renewed or self._challenge is None:
                return False
            self._renewed = True
            key = self._cache_key()
            fresh = credential()
            changed = fresh != self._credential
            for token in self._cache.tokens(key):
                self._cache.discard(key, token.value)
            self._credential = fresh
            self._refresh_token = _refresh_token_of(fresh)
            return changed

    def _reauthorize(
        self, scopes: Iterable[Scope], failed: str | None, challenges: Iterable[Challenge]
    ) -> Flow[str | None]:
        """After a 401: a fresh token covering the scopes plus any the challenge names.

        Returns None when trying again cannot help: no bearer flow, or a registry token
        (which cannot be exchanged for another). Otherwise it always fetches anew."""
        if self._challenge is None or self._challenge.scheme != "bearer":
            return None
        if self._credential and self._credential.registry_token:
            return None
        extra: list[Scope] = []
        picked = pick_challenge(challenges)
        if picked and picked.scheme == "bearer":
            for text in (picked.params.get("scope") or "").split():
                try:
                    extra.append(parse_scope(text))
                except AuthError:
                    continue
        if failed and failed.startswith("Bearer "):
            self._cache.discard(self._cache_key(), failed[len("Bearer ") :])
        needed = merge_scopes([*scopes, *extra])
        with self._fetch_lock:
            token = yield from self._fetch_token(needed)
            self._cache.add(self._cache_key(), token)
        return f"Bearer {token.value}"

    def _credential_stale(self, response: HttpResponse) -> bool:
        """A reply that a credential read again might fix: Basic credentials refused (an
        ECR password is valid 12 hours), or any "token has expired" answer."""
        if response.status not in (401, 403) or self._challenge is None:
            return False
        if self._challenge.scheme == "basic":
            return True
        return b"expired" in response.body[:4096].lower()

    # -- token endpoint --

    def _cache_key(self) -> tuple[str, str, str]:
        cred = self._credential
        who = (cred.username or "<token>") if cred else ""
        return (
            self.realm or "",
            (self._challenge.params.get("service") if self._challenge else "") or "",
            who,
        )

    def _checked_realm(self, challenge: Challenge) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(
                f"registry {urlsplit(self._registry_url).netloc} sent a Bearer challenge "
                "without a realm"
            )
        try:
            url = join_url(self._registry_url + "/", realm, "token realm")
        except MalformedResponseError as exc:
            raise AuthError(f"registry {urlsplit(self._registry_url).netloc}: {exc}") from None
        parts = urlsplit(url)
        registry = urlsplit(self._registry_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AuthError(f"token realm {redact_url(url)} is not an http(s) URL")
        if registry.scheme == "https" and parts.scheme != "https":
            raise AuthError(
                f"refusing plain-HTTP token realm {redact_url(url)} for an HTTPS registry"
            )
        if _is_internal_ip(parts.hostname) and not (
            _is_internal_ip(registry.hostname or "") or is_loopback_host(registry.hostname or "")
        ):
            raise AuthError(f"refusing token realm {redact_url(url)} on an internal address")
        return url

    def _fetch_token(self, scopes: frozenset[Scope]) -> Flow[Token]:
        now = self._clock()
        try:
            payload = (yield from self._post_for_token(scopes)) if self._refresh_token else None
            if payload is None:
                payload = yield from self._get_token(scopes)
        except CredentialsRejectedError as rejected:
            # Stale credentials must not break a public read (ECR Public); a write, or a
            # login check (no scopes), still reports them.
            if not scopes or any(s.actions - {"pull"} for s in scopes):
                raise
            self.rejected = rejected
            try:
                payload = yield from self._get_token(scopes, anonymous=True)
            except AuthError:
                raise rejected from None
        value = payload.get("token") or payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"token server {redact_url(self.realm or '')} returned no token")
        refresh = payload.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_token = refresh
        return Token(value=value, scopes=scopes, expires_at=token_expiry(payload, now))

    def _service_params(self) -> dict[str, str]:
        service = self._challenge.params.get("service") if self._challenge else None
        return {"service": service} if service else {}

    def _get_token(
        self, scopes: frozenset[Scope], anonymous: bool = False
    ) -> Flow[dict[str, object]]:
        assert self.realm is not None
        cred = None if anonymous else self._credential
        params: list[tuple[str, str]] = list(self._service_params().items())
        params += [("scope", str(s)) for s in sorted(scopes)]
        authorization = None
        if cred and cred.username and (cred.password is not None or self._refresh_token):
            secret = cred.password if cred.password is not None else self._refresh_token or ""
            params.append(("account", cred.username))
            authorization = _basic(cred.username, secret)
        sep = "&" if urlsplit(self.realm).query else "?"
        url = self.realm + (sep + urlencode(params) if params else "")
        response = yield TokenRequest("GET", url, authorization=authorization)
        return self._token_payload(response.status, response.body, cred is not None)

    def _post_for_token(self, scopes: frozenset[Scope]) -> Flow[dict[str, object] | None]:
        assert self.realm is not None and self._refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": CLIENT_ID,
            **self._service_params(),
            "scope": " ".join(str(s) for s in sorted(scopes)),
        }
        response = yield TokenRequest("POST", self.realm, form=urlencode(form))
        # Registries that do not implement the OAuth2 POST answer these; use GET instead.
        if response.status in (400, 401, 404, 405):
            return None
        return self._token_payload(response.status, response.body, True)

    def _token_payload(self, status: int, body: bytes, with_credentials: bool) -> dict[str, object]:
        realm = redact_url(self.realm or "")
        if status in (401, 403):
            if with_credentials:
                raise CredentialsRejectedError(
                    f"token server {realm} rejected the credentials for "
                    f"{urlsplit(self._registry_url).netloc} (HTTP {status}); check the "
                    "username and password"
                )
            raise AuthError(
                f"token server {realm} refused an anonymous token (HTTP {status}); log in first"
            )
        if status != 200:
            raise AuthError(f"token server {realm} answered HTTP {status}")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise AuthError(f"token server {realm} returned a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise AuthError(f"token server {realm} returned a body that is not a JSON object")
        return payload


def _refresh_token_of(credential: Credential | None) -> str | None:
    """An identity token, or a password given with ACR's refresh-token user name."""
    if credential is None:
        return None
    if credential.identity_token:
        return credential.identity_token
    if credential.username == REFRESH_TOKEN_USERNAME and credential.password:
        return credential.password
    return None


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _is_internal_ip(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified
