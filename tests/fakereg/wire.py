"""The fake registry's view of one HTTP exchange: a parsed request, a response value, and
distribution's JSON error body (`{"errors":[{"code","message","detail"}]}`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

Headers = Sequence[tuple[str, str]]
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it; `headers` keys are lower-cased."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]
    body: bytes
    host: str

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
        split = urlsplit(target)
        lowered = {name.lower(): value for name, value in headers.items()}
        query = parse_qs(split.query, keep_blank_values=True)
        return cls(method, split.path, query, lowered, body, lowered.get("host", ""))

    def arg(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def accepts(self) -> list[str]:
        """Media types named by Accept (parameters and q-values dropped)."""
        raw = self.headers.get("accept", "")
        return [part.split(";")[0].strip() for part in raw.split(",") if part.strip()]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=tuple)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def with_headers(self, *extra: tuple[str, str]) -> Response:
        return Response(self.status, self.body, (*self.headers, *extra))

    def without_header(self, name: str) -> Response:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return Response(self.status, self.body, kept)


def json_response(status: int, value: Any, headers: Headers = ()) -> Response:
    body = json.dumps(value).encode()
    return Response(status, body, (("Content-Type", "application/json"), *headers))


def error(
    status: int, code: str, message: str, detail: Any = None, headers: Headers = ()
) -> Response:
    """Distribution's error body; `detail` is omitted when None, as distribution does."""
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json_response(status, {"errors": [entry]}, headers)
