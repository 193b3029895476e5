"""Image references: parse, normalise and validate `[domain/]path[:tag][@digest]` the way
docker does (distribution/reference `ParseNormalizedNamed` + `TagNameOnly`), so a name means
the same repository here as in `docker pull`. Pure: no I/O."""

from __future__ import annotations

import ipaddress
import json
import re
import string
from dataclasses import dataclass, replace

from manifestor.errors import InvalidReferenceError

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
DOCKER_HUB_CREDENTIAL_KEY = "https://index.docker.io/v1/"
DEFAULT_TAG = "latest"

# Path length excludes the domain, as upstream has done since commit aaca75e.
MAX_PATH_LENGTH = 255
MAX_TAG_LENGTH = 128

# Hex length per digest algorithm, as go-digest validates them (lowercase only).
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_LEGACY_HUB_DOMAIN = "index.docker.io"
# Every spelling of Docker Hub a user may write as a registry host.
HUB_DOMAINS = frozenset({DOCKER_HUB_DOMAIN, _LEGACY_HUB_DOMAIN, DOCKER_HUB_REGISTRY})
_OFFICIAL_PREFIX = "library/"

# The grammar of distribution/reference regexp.go, one fragment per production.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_TAG_LENGTH - 1}}}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
# A bare 64-hex string is an image ID, not a name; docker refuses it to avoid the ambiguity.
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")

_PATH_CHARS = frozenset(string.ascii_lowercase + string.digits + "._-/")
_TAG_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_DOMAIN_CHARS = frozenset(string.ascii_letters + string.digits + ".-:[]")
_LOWER_HEX = frozenset(string.hexdigits.lower())


@dataclass(frozen=True)
class Reference:
    """A normalised image reference. Build it with `parse_reference`, which validates;
    the constructor does not."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def is_docker_hub(self) -> bool:
        # registry-1.docker.io is Hub's API host spelt out; it shares Hub's credentials.
        return self.domain in (DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY)

    @property
    def registry(self) -> str:
        """The host the v2 API is spoken to."""
        return api_host(self.domain)

    @property
    def credential_key(self) -> str:
        """The key docker's config.json and credential helpers store this registry under."""
        return DOCKER_HUB_CREDENTIAL_KEY if self.is_docker_hub else self.domain

    @property
    def identifier(self) -> str:
        """What follows `/manifests/`: the digest when pinned, else the tag."""
        if self.digest is not None:
            return self.digest
        if self.tag is not None:
            return self.tag
        raise InvalidReferenceError(f"reference {_quote(str(self))} has no tag or digest")

    def with_tag(self, tag: str) -> Reference:
        """Same repository, this tag, and no digest: a new tag may name other content."""
        if problem := _tag_problem(tag):
            raise InvalidReferenceError(f"invalid tag {_quote(tag)}: {problem}")
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        """Same repository pinned to this digest; the tag is kept (`name:tag@digest`)."""
        return replace(self, digest=parse_digest(digest))

    def at_digest(self, digest: str) -> Reference:
        """The manifest with this digest in the same repository, without a tag."""
        return Reference(self.domain, self.path, None, parse_digest(digest))

    def familiar(self) -> str:
        """docker's short form: `ubuntu:latest` for docker.io/library/ubuntu:latest."""
        if self.domain != DOCKER_HUB_DOMAIN:
            return self.name + self._suffix()
        short = self.path.removeprefix(_OFFICIAL_PREFIX)
        # Only a single-component official name loses "library/", as in docker.
        return (self.path if "/" in short else short) + self._suffix()

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse_reference(text: str, *, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse and normalise `text`; `ubuntu` becomes docker.io/library/ubuntu:latest.

    `default_tag` is added only when there is neither a tag nor a digest; pass None to
    keep a bare name bare. `name:tag@digest` keeps both parts.
    """
    if text == "":
        raise _invalid(text, "empty reference")
    if _IMAGE_ID.fullmatch(text):
        raise _invalid(
            text, "cannot specify 64-byte hexadecimal strings; use NAME@sha256:<hex> instead"
        )

    name_and_tag, at, digest = text.partition("@")
    name, tag = _split_tag(name_and_tag)
    domain, path = _split_domain(name)

    # Upstream falls back to an empty domain when a domain-looking first component does
    # not parse (e.g. "a_b.c/d"); such a name has no registry, so it is an error here.
    if domain is not None and (problem := _domain_problem(domain)):
        raise _invalid(text, problem)
    if problem := _path_problem(path, has_domain=domain is not None):
        raise _invalid(text, problem)
    if tag is not None and (problem := _tag_problem(tag)):
        raise _invalid(text, problem)
    if at and (problem := _digest_problem(digest)):
        raise _invalid(text, problem)

    domain = domain or DOCKER_HUB_DOMAIN
    if domain == _LEGACY_HUB_DOMAIN:
        domain = DOCKER_HUB_DOMAIN
    if domain == DOCKER_HUB_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    if len(path) > MAX_PATH_LENGTH:
        raise _invalid(
            text,
            f"repository name is {len(path)} characters; the limit is {MAX_PATH_LENGTH} "
            "(not counting the domain)",
        )

    if tag is None and not at and default_tag is not None:
        tag = default_tag
    return Reference(domain=domain, path=path, tag=tag, digest=digest if at else None)


def api_host(domain: str) -> str:
    """Docker Hub's names all speak the API at registry-1.docker.io; others as written."""
    return DOCKER_HUB_REGISTRY if domain in HUB_DOMAINS else domain


def parse_digest(text: str) -> str:
    """Return `text` if it is a well-formed digest of a supported algorithm."""
    if problem := _digest_problem(text):
        raise InvalidReferenceError(f"invalid digest {_quote(text)}: {problem}")
    return text


def is_loopback_host(domain: str) -> bool:
    """True for localhost, *.localhost, 127.0.0.0/8 and ::1, with or without a port;
    such registries may be spoken to over plain HTTP."""
    host = domain.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _split_tag(name_and_tag: str) -> tuple[str, str | None]:
    # A colon before the last slash belongs to a port, not a tag.
    colon = name_and_tag.rfind(":")
    if colon > name_and_tag.rfind("/"):
        return name_and_tag[:colon], name_and_tag[colon + 1 :]
    return name_and_tag, None


def _split_domain(name: str) -> tuple[str | None, str]:
    """Split off the domain by docker's rule; None means Docker Hub is implied."""
    first, slash, rest = name.partition("/")
    # Without a slash the name is always a Hub path, even "localhost" or "example.com"
    # (an upstream FIXME we keep so names mean what they mean to docker).
    if not slash:
        return None, name
    if first == "localhost" or "." in first or ":" in first or first != first.lower():
        return first, rest
    return None, name


def _domain_problem(domain: str) -> str | None:
    if _DOMAIN.fullmatch(domain):
        return None
    if bad := _bad_chars(domain, _DOMAIN_CHARS):
        return f"domain {_quote(domain)} contains invalid characters: {bad}"
    host, colon, port = domain.rpartition(":") if not domain.endswith("]") else ("", "", "")
    if ":" in host and not host.startswith("["):
        return f"IPv6 address in domain {_quote(domain)} must be in brackets, e.g. [::1]:5000"
    if colon and port == "":
        return f"domain {_quote(domain)} has no port number after ':'"
    if colon and not port.isdigit():
        return f"port {_quote(port)} in domain {_quote(domain)} must be a number"
    return (
        f"domain {_quote(domain)} is not a valid host[:port] (dot-separated labels of "
        "letters, digits and inner hyphens, or an IPv6 address in brackets)"
    )


def _path_problem(path: str, *, has_domain: bool) -> str | None:
    if path == "":
        return "missing repository name after the domain" if has_domain else "missing name"
    if path != path.lower():
        # GHCR shows owners with capitals, but a reference must spell them in lowercase.
        lowered = path.lower()
        hint = "" if _path_problem(lowered, has_domain=has_domain) else f" (use {_quote(lowered)})"
        return f"repository name {_quote(path)} must be lowercase{hint}"
    if bad := _bad_chars(path, _PATH_CHARS):
        return f"repository name {_quote(path)} contains invalid characters: {bad}"
    if path.startswith("/"):
        return "the name starts with a slash"
    if path.endswith("/"):
        return "the name ends with a slash"
    for component in path.split("/"):
        if component == "":
            return f"repository name {_quote(path)} has an empty path component (//)"
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"path component {_quote(component)} must start and end with a lowercase "
                'letter or digit, with single ".", "_", "__" or any run of "-" between'
            )
    return None


def _tag_problem(tag: str) -> str | None:
    if tag == "":
        return "empty tag after ':'"
    if bad := _bad_chars(tag, _TAG_CHARS):
        return f"tag {_quote(tag)} contains invalid characters: {bad}"
    if len(tag) > MAX_TAG_LENGTH:
        return f"tag is {len(tag)} characters; the limit is {MAX_TAG_LENGTH}"
    if not _TAG.fullmatch(tag):
        return f"tag {_quote(tag)} must start with a letter, digit or underscore"
    return None


def _digest_problem(digest: str) -> str | None:
    algorithm, colon, encoded = digest.partition(":")
    expected = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is not None:
        if len(encoded) == expected and not _bad_chars(encoded, _LOWER_HEX):
            return None
        return f"digest must be {algorithm}: followed by {expected} lowercase hex characters"
    if digest == "":
        return "empty digest after '@'"
    if not colon or not _DIGEST.fullmatch(digest):
        return "digest must be ALGORITHM:HEX, e.g. sha256: followed by 64 lowercase hex characters"
    supported = ", ".join(DIGEST_HEX_LENGTHS)
    return f"unsupported digest algorithm {_quote(algorithm)} (supported: {supported})"


def _bad_chars(text: str, allowed: frozenset[str]) -> str:
    """The disallowed characters of `text`, quoted, in order of first appearance."""
    bad = dict.fromkeys(c for c in text if c not in allowed)
    return ", ".join(_quote(c) for c in bad)


def _quote(text: str) -> str:
    # JSON quoting escapes newlines and control characters, so messages stay one line.
    return json.dumps(text, ensure_ascii=False)


def _invalid(text: str, problem: str) -> InvalidReferenceError:
    return InvalidReferenceError(f"invalid reference {_quote(text)}: {problem}")
