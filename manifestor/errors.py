"""Typed errors. Each is one failure a user can act on; the CLI prints its message on
one line and exits with its code (1 operational failure, 2 usage error)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


def quote(text: str) -> str:
    """`text` in double quotes for a message; JSON escapes newlines and control
    characters, so the message stays one line whatever the user typed."""
    return json.dumps(text, ensure_ascii=False)


class ManifestorError(Exception):
    """Base of every error manifestor reports to a user."""

    exit_code = 1


class UsageError(ManifestorError):
    """The user's input is malformed (reference, platform, flag value)."""

    exit_code = 2


class InvalidReferenceError(UsageError):
    """An image reference does not parse or breaks a naming rule."""


class InvalidPlatformError(UsageError):
    """A platform string or os/arch pair is not valid."""


class DigestMismatchError(ManifestorError):
    """Bytes received do not hash to the digest that was asked for or announced."""


class ManifestTooLargeError(ManifestorError):
    """A manifest body exceeds the size cap."""


class ManifestFormatError(ManifestorError):
    """A manifest body is not a manifest we understand (bad JSON, schema1, unknown type)."""


class CredentialsError(ManifestorError):
    """Credentials could not be read (bad config.json, failing credential helper)."""


class AuthError(ManifestorError):
    """Authentication failed: wrong credentials, no token, or an unsafe token realm."""


class CredentialsRejectedError(AuthError):
    """A token server refused the credentials (wrong, or expired during the run)."""


class TransportError(ManifestorError):
    """The registry could not be reached (connection refused, reset, timeout)."""


class TLSError(TransportError):
    """TLS failed: an untrusted certificate, or TLS spoken to a plain-HTTP registry."""


class InsecureRegistryError(TransportError):
    """The registry speaks plain HTTP but was not allowed to (no --insecure, not loopback)."""


class RedirectRefusedError(TransportError):
    """A redirect we will not follow (https to http, or too many hops)."""


class CancelledError(ManifestorError):
    """The run was stopped (Ctrl-C), or this task was stopped because another one failed."""

    exit_code = 130


class DeadlineError(TransportError):
    """A time limit ran out: one request's total limit, the retry budget, or the run's
    --timeout; also a Retry-After longer than the time left."""


class MalformedResponseError(TransportError):
    """A registry or token server sent something malformed: a header, a URL or a body
    that cannot be what the protocol says it is."""


class SourceContentError(DigestMismatchError):
    """A blob being copied does not match its descriptor (size or digest): the source is
    to blame, and nothing was written from it."""


class ArchiveError(UsageError):
    """An image archive or layout on disk is unreadable: truncated, corrupt, a member whose
    path escapes, or a size out of bounds."""


@dataclass(frozen=True)
class RegistryErrorDetail:
    """One entry of a registry's `{"errors": [...]}` body."""

    code: str
    message: str
    detail: object = None


class RegistryError(ManifestorError):
    """The registry answered with an error status; `codes` holds its own error codes."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: tuple[RegistryErrorDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)


class NotFoundError(RegistryError):
    """MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN or a plain 404."""


class RepositoryNotFoundError(NotFoundError):
    """NAME_UNKNOWN: the repository does not exist (ECR and Artifact Registry do not
    create repositories on push)."""


class UnauthorizedError(RegistryError):
    """401 after authenticating: credentials missing or rejected."""


class DeniedError(RegistryError):
    """403 / DENIED: the credentials are valid but lack the permission."""


class ManifestBlobUnknownError(RegistryError):
    """MANIFEST_BLOB_UNKNOWN: a manifest refers to something the repository lacks."""


class ManifestInvalidError(RegistryError):
    """MANIFEST_INVALID / UNSUPPORTED: the registry refused the manifest itself."""


class TooManyRequestsError(RegistryError):
    """429 / TOOMANYREQUESTS after the retries ran out."""


class UnavailableError(RegistryError):
    """408, 5xx: the registry kept failing through every retry."""


class TagImmutableError(RegistryError):
    """The registry refuses to overwrite an existing tag (immutable or locked tags:
    ECR 400 TAG_INVALID, Harbor 412, Quay 409, Docker Hub 403, ACR 405). Never retried."""


class StoreError(ManifestorError):
    """The local list store cannot do what was asked."""


class ListNotFoundError(StoreError):
    """No local list by that name."""


class ListExistsError(StoreError):
    """A local list by that name exists and --amend was not given."""


class CorruptListError(StoreError):
    """A local list's files cannot be read; `rm` still removes it."""


class EntryNotFoundError(StoreError):
    """The local list has no entry for that image."""


class SpecError(UsageError):
    """A release spec is malformed; the message names the file, line and field."""


class PlatformMismatchError(ManifestorError):
    """The platform the user stated is not the one the image's config says."""


class MissingChildError(ManifestorError):
    """A child the list needs is not in the target repository."""


class TagMovedError(ManifestorError):
    """The target tag changed between reading it and writing it."""


class ReadBackError(ManifestorError):
    """After a push, the tag does not resolve to the list that was pushed."""


class CannotBuildError(ManifestorError):
    """A platform this host cannot build, or no builder that can build here; the message
    names the command that fixes it."""


class BuildFailedError(ManifestorError):
    """A platform's build failed and nothing was published; `logs` are the kept logs."""

    def __init__(self, message: str, logs: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.logs = logs
