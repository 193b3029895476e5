"""In-process Docker registry token server: the `auth.token.realm` of the token registry.

Issues RS256 JWTs (x5c = its self-signed certificate) over GET and OAuth2 POST, grants the
intersection of requested and allowed actions, and records every request for assertions.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fnmatch
import functools
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .pki import make_signing_cert
from .serving import BackgroundServer, RigHandler

Grant = tuple[str, Sequence[str]]  # (repository name glob, allowed actions; "*" = all)


@dataclass(frozen=True)
class TokenRequest:
    """One request seen by the token server (failed ones included; see `status`)."""

    method: str
    scopes: list[str]
    user: str | None  # claimed user (Basic / password grant) or refresh-token owner
    client_id: str | None
    grant_type: str | None  # None for GET
    service: str | None
    status: int


class TokenError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """`type:name:actions` → (type, name, actions); the name may itself contain ':'."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name or any(ch.isspace() for ch in scope):
        raise TokenError(400, "invalid_scope", f"invalid scope {scope!r}")
    return kind, name, [a for a in actions.split(",") if a]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenServer:
    """Token server on http://127.0.0.1:<port>/token; `realm` is the URL to configure."""

    def __init__(
        self,
        users: Mapping[str, str],
        grants: Mapping[str, Sequence[Grant]],
        *,
        service: str = "manifestor-rig-registry",
        issuer: str = "manifestor-rig-token-server",
        expires_in: int = 300,
    ):
        self.users = dict(users)
        self.grants = {user: list(rules) for user, rules in grants.items()}
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.post_enabled = True
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._refresh_tokens: dict[str, str] = {}
        self._signer = make_signing_cert(issuer)
        self._server = BackgroundServer(functools.partial(_TokenHandler, app=self))
        self.url = f"http://127.0.0.1:{self._server.port}"
        self.realm = f"{self.url}/token"

    @property
    def cert_pem(self) -> bytes:
        """The signing certificate: the registry's `auth.token.rootcertbundle`."""
        return self._signer.cert_pem

    def reset(self) -> None:
        """Forget the request log (refresh tokens stay valid)."""
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def issue_token(self, user: str | None, access: Sequence[Mapping[str, Any]]) -> str:
        """Mint a JWT for `user` with `access` = [{"type", "name", "actions"}] as given."""
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self._signer.cert_der).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": [dict(entry) for entry in access],
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._signer.key.sign(  # type: ignore[call-arg]
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"

    def allowed_actions(
        self, user: str | None, kind: str, name: str, wanted: list[str]
    ) -> list[str]:
        """Requested ∩ allowed; anonymous ("") rules apply to every user too."""
        if kind != "repository":
            return []
        allowed: set[str] = set()
        for who in {"", user or ""}:
            for glob, actions in self.grants.get(who, []):
                if fnmatch.fnmatchcase(name, glob):
                    allowed.update(actions)
        return [a for a in dict.fromkeys(wanted) if "*" in allowed or a in allowed]

    # -- request handling (called from handler threads) --

    def _record(self, entry: TokenRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _check_password(self, user: str, password: str) -> None:
        if self.users.get(user) != password:
            raise TokenError(401, "UNAUTHORIZED", "invalid username or password")

    def _check_service(self, service: str | None) -> None:
        if service != self.service:
            raise TokenError(400, "invalid_request", f"unknown service {service!r}")

    def _grant(self, user: str | None, scopes: list[str]) -> tuple[str, list[dict[str, Any]]]:
        access = []
        for scope in scopes:
            kind, name, wanted = parse_scope(scope)
            actions = self.allowed_actions(user, kind, name, wanted)
            access.append({"type": kind, "name": name, "actions": actions})
        return self.issue_token(user, access), access

    def refresh_token_owner(self, token: str) -> str | None:
        with self._lock:
            return self._refresh_tokens.get(token)

    def _new_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = user
        return token

    def handle_get(self, query: dict[str, list[str]], basic: tuple[str, str] | None) -> dict:
        self._check_service(query.get("service", [None])[0])
        user = None
        if basic:
            self._check_password(*basic)
            user = basic[0]
        token, _ = self._grant(user, query.get("scope", []))
        answer = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": _now_iso(),
        }
        if user and query.get("offline_token", ["false"])[0] == "true":
            answer["refresh_token"] = self._new_refresh_token(user)
        return answer

    def handle_post(self, form: dict[str, str]) -> dict:
        grant_type = form.get("grant_type")
        refresh_token = None
        if grant_type == "refresh_token":
            refresh_token = form.get("refresh_token", "")
            user = self.refresh_token_owner(refresh_token)
            if user is None:
                raise TokenError(401, "invalid_grant", "unknown refresh token")
        elif grant_type == "password":
            user = form.get("username", "")
            self._check_password(user, form.get("password", ""))
            if form.get("access_type") == "offline":
                refresh_token = self._new_refresh_token(user)
        else:
            raise TokenError(400, "unsupported_grant_type", f"grant_type {grant_type!r}")
        if not form.get("client_id"):
            raise TokenError(400, "invalid_request", "client_id is required")
        self._check_service(form.get("service"))
        token, access = self._grant(user, form.get("scope", "").split())
        granted = [
            f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access if a["actions"]
        ]
        answer = {
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": _now_iso(),
            "scope": " ".join(granted),
        }
        if refresh_token:
            answer["refresh_token"] = refresh_token
        return answer


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")  # unparsable credentials fail the password check
    return user, password


class _TokenHandler(RigHandler):
    def __init__(self, *args: Any, app: TokenServer, **kwargs: Any):
        self.app = app
        super().__init__(*args, **kwargs)

    def _respond(self, call: Callable[[], dict], entry: dict[str, Any]) -> None:
        """Run `call`, record the request (before answering, so tests never race), answer."""
        try:
            status, payload = 200, call()
        except TokenError as error:
            status = error.status
            payload = {
                "error": error.code,
                "error_description": error.message,
                "errors": [{"code": error.code.upper(), "message": error.message}],
            }
        self.app._record(TokenRequest(method=self.command, status=status, **entry))
        self.send_bytes(status, json.dumps(payload).encode(), content_type="application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/token":
            self.send_bytes(404, b"404 page not found\n", content_type="text/plain")
            return
        query = parse_qs(url.query, keep_blank_values=True)
        basic = _basic_credentials(self.headers.get("Authorization"))
        entry = {
            "scopes": query.get("scope", []),
            "user": basic[0] if basic else None,
            "client_id": query.get("client_id", [None])[0],
            "grant_type": None,
            "service": query.get("service", [None])[0],
        }
        self._respond(lambda: self.app.handle_get(query, basic), entry)

    def do_POST(self) -> None:
        body = self.read_body()
        if urlsplit(self.path).path != "/token" or not self.app.post_enabled:
            self.send_bytes(404, b"404 page not found\n", content_type="text/plain")
            return
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        user = form.get("username")
        if form.get("grant_type") == "refresh_token":
            user = self.app.refresh_token_owner(form.get("refresh_token", ""))
        entry = {
            "scopes": form.get("scope", "").split(),
            "user": user,
            "client_id": form.get("client_id"),
            "grant_type": form.get("grant_type"),
            "service": form.get("service"),
        }

        def call() -> dict:
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("application/x-www-form-urlencoded"):
                raise TokenError(400, "invalid_request", "expected a form-encoded body")
            return self.app.handle_post(form)

        self._respond(call, entry)
