"""Hosted-registry quirks as switches (one per row of §14 in
shared/reference/hosted-registries.md); the defaults are distribution 2.8's behaviour.

Presets in PERSONALITIES switch on a registry's structural quirks; fault rates (rate limits,
flaky PUTs, token expiry) stay off there and are set per test with `dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MountMode = Literal["ok", "never", "referenced_only"]
RateLimit = Literal["hub_pull", "hub_abuse", "ghcr", "ghcr_secondary"]


@dataclass(frozen=True)
class Immutability:
    """How a registry refuses to overwrite an existing tag (§14 rows 1–2).

    `message` is formatted with `tag` and `repo`."""

    status: int
    code: str
    message: str


ECR_IMMUTABLE = Immutability(
    400,
    "TAG_INVALID",
    "The image tag '{tag}' already exists in the '{repo}' repository and cannot be"
    " overwritten because the repository is immutable.",
)
HARBOR_IMMUTABLE = Immutability(
    412,
    "PRECONDITION",
    "Failed to process request due to '{repo}:{tag}' configured as immutable.",
)
QUAY_IMMUTABLE = Immutability(409, "TAG_IMMUTABLE", "tag {tag} is immutable")
HUB_IMMUTABLE = Immutability(403, "DENIED", "tag {tag} is immutable and cannot be overwritten")
ACR_LOCKED = Immutability(
    405, "REGISTRY_DISALLOWED_OPERATION", "The operation is disallowed on this registry"
)
ARTIFACTORY_IMMUTABLE = Immutability(
    403, "DENIED", "Overwriting '{repo}:{tag}' needs DELETE permission"
)

ZERO_UUID_USER = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Personality:
    name: str = "distribution"
    # 1-2: PUT by tag onto an existing tag refused, whatever the digest.
    immutable: Immutability | None = None
    # 4-5: unknown repositories are not created on push; every endpoint answers 404.
    auto_create: bool = True
    name_unknown_message: str = "repository name not known to registry"
    # 6: deeper names than this are unknown (Docker Hub: 2).
    max_depth: int | None = None
    # 7: the token endpoint grants nothing on names deeper than this (GitLab).
    token_max_depth: int | None = None
    # 8: lists must name children of their own family (Docker list → Docker children...).
    strict_list_children: bool = False
    # 9: OCI content types answered 415 (Quay with OCI disabled).
    oci_disabled: bool = False
    # 8: any Docker content type → 400 MANIFEST_INVALID (Zot).
    docker_types_refused: bool = False
    # 10: the code for a list naming children absent from the repository (Quay: MANIFEST_INVALID).
    missing_child_code: str = "MANIFEST_BLOB_UNKNOWN"
    # 11: the first N list PUTs after a child manifest PUT fail MANIFEST_BLOB_UNKNOWN (ACR geo).
    flaky_list_puts: int = 0
    # 12: cross-repository mounts: done, never (202), or only for blobs a manifest references.
    mount_mode: MountMode = "ok"
    # 13: a mount whose `from` repository does not exist → 401 (Harbor "project not found").
    mount_from_missing_401: bool = False
    # 14: the token endpoint honours only the last `scope` parameter (old GitLab).
    token_last_scope_only: bool = False
    # 15-17: rate limiting style (None = off) once `rate_limit_after` requests were counted:
    # hub_pull counts manifest GETs only (HEAD is free), the others count every request.
    rate_limit: RateLimit | None = None
    rate_limit_after: int = 0
    # 15: Docker Hub's ratelimit-* headers on manifest GETs (the pull quota).
    hub_ratelimit_headers: bool = False
    # 18: more than N manifest PUTs per second → 429 TOOMANYREQUESTS without Retry-After (ECR).
    put_rate_per_second: int | None = None
    # 19: tokens expire after N uses or T seconds → 401 "authorization token has expired".
    token_max_uses: int | None = None
    token_ttl: float | None = None
    # 20: Docker-Content-Digest left off manifest GET (ECR) / off HEAD as well.
    digest_on_get: bool = True
    digest_on_head: bool = True
    # 21-22: distribution's Accept negotiation (False: the stored document, whatever Accept).
    negotiate_accept: bool = True
    # 23: any Accept but */* on blob/upload calls → 406; error bodies carry `status` (JFrog).
    strict_accept_blobs: bool = False
    status_error_bodies: bool = False
    # 24: blob GET → 307 to a second host that refuses Authorization (S3) and expires URLs.
    blob_redirect: bool = False
    presign_ttl: float = 60.0
    # 25: PATCH answers 201 and Range stays at the first chunk's end (ECR).
    ecr_chunks: bool = False
    # 26: Content-Range must be `start-end`; a `bytes ` prefix → 416 (Quay).
    bare_content_range: bool = False
    # 27: manifests over this many bytes refused (413 if `oversize_status_413`, else 400).
    max_manifest_bytes: int = 4 * 1024 * 1024
    oversize_status_413: bool = False
    # 28: a manifest whose `subject` is absent → MANIFEST_BLOB_UNKNOWN (GitLab).
    subject_must_exist: bool = False
    # 29: allowed config media types for image manifests (None = any) (GitLab).
    config_media_types: tuple[str, ...] | None = None
    # 30: the referrers API (off: 404 like Docker Hub / GHCR / distribution 2.8).
    referrers_api: bool = False
    # 31: only Bearer accepted; a Basic header → 403 DENIED (ECR Public).
    bearer_only: bool = False
    # 32: token responses carry only `access_token`; OAuth2 POST answered 401 (Artifactory).
    access_token_only: bool = False
    token_post_401: bool = False
    # 32: the ACR refresh-token login: user ZERO_UUID_USER + refresh token, POST only.
    refresh_token_user: bool = False
    # 33: these users' tokens silently lose `push` (Quay down-scoping).
    drop_push_for: frozenset[str] = frozenset()
    # 34: repositories created by a push are private: anonymous tokens for them → 401 (GHCR).
    new_repos_private: bool = False
    # 35: a tag cannot change media type (Zot before 2025-03) → 400 MANIFEST_INVALID.
    tag_type_lock: bool = False


DISTRIBUTION = Personality()

PERSONALITIES: dict[str, Personality] = {
    "distribution": DISTRIBUTION,
    "hub": Personality(name="hub", max_depth=2, hub_ratelimit_headers=True, immutable=None),
    "ghcr": Personality(name="ghcr", new_repos_private=True),
    "ecr": Personality(
        name="ecr",
        auto_create=False,
        name_unknown_message=(
            "The repository with name '{repo}' does not exist in the registry with id"
            " '123456789012'"
        ),
        mount_mode="referenced_only",
        digest_on_get=False,
        blob_redirect=True,
        ecr_chunks=True,
    ),
    "ecr-public": Personality(
        name="ecr-public", mount_mode="never", digest_on_get=False, bearer_only=True
    ),
    "gar": Personality(name="gar", auto_create=False),
    "acr": Personality(name="acr", access_token_only=True, refresh_token_user=True),
    "quay": Personality(
        name="quay",
        strict_list_children=True,
        missing_child_code="MANIFEST_INVALID",
        bare_content_range=True,
    ),
    "harbor": Personality(name="harbor", mount_from_missing_401=True),
    "artifactory": Personality(
        name="artifactory",
        mount_mode="never",
        strict_accept_blobs=True,
        status_error_bodies=True,
        token_post_401=True,
    ),
    "gitlab": Personality(
        name="gitlab",
        token_max_depth=3,
        subject_must_exist=True,
        config_media_types=(
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.oci.image.config.v1+json",
        ),
    ),
    "zot": Personality(
        name="zot", docker_types_refused=True, tag_type_lock=True, referrers_api=True
    ),
}
