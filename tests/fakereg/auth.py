"""Optional authentication for the fake: Basic against a users dict, or Bearer with opaque
tokens minted by an in-process token endpoint (`/token` on the registry's own port).

Grants are `(repository glob, actions)` pairs per user; `anonymous` grants apply without
credentials. A token carries the intersection of what was asked and what is granted.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Grant = tuple[str, Sequence[str]]  # (repository glob, actions; "*" = all)


@dataclass(frozen=True)
class AuthConfig:
    scheme: Literal["basic", "bearer"]
    users: Mapping[str, str]
    grants: Mapping[str, Sequence[Grant]] = field(default_factory=dict)  # default: all to all
    anonymous: Sequence[Grant] = ()
    service: str = "fakereg"

    def allowed(self, user: str | None, repo: str) -> set[str]:
        if user is None:
            grants: Sequence[Grant] = self.anonymous
        else:
            grants = self.grants.get(user, [("*", ["*"])])
        actions: set[str] = set()
        for pattern, granted in grants:
            if fnmatch.fnmatchcase(repo, pattern):
                actions.update(granted)
        return {"pull", "push", "delete"} if "*" in actions else actions


def basic_user(header: str | None) -> tuple[str, str] | None:
    """(user, password) from a Basic Authorization header."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """`repository:name:pull,push` → (type, name, actions); names may contain ':'."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return (kind, name, [a for a in actions.split(",") if a]) if kind and name else None


@dataclass
class Token:
    user: str | None
    access: dict[str, set[str]]  # repository -> actions
    issued: float = field(default_factory=time.monotonic)
    uses: int = 0


class TokenBook:
    """Tokens the endpoint issued (opaque random strings) and their use counts."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._refresh: dict[str, str] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self, user: str | None, access: dict[str, set[str]]) -> str:
        value = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[value] = Token(user, access)
            self.issued += 1
        return value

    def use(self, value: str) -> Token | None:
        """The token, counting one more use (None if never issued)."""
        with self._lock:
            token = self._tokens.get(value)
            if token is not None:
                token.uses += 1
            return token

    def refresh_token(self, user: str) -> str:
        """A long-lived refresh token for `user` (an ACR-style identity token)."""
        value = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[value] = user
        return value

    def refresh_owner(self, value: str) -> str | None:
        with self._lock:
            return self._refresh.get(value)
