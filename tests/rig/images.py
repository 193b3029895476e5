"""Tiny deterministic images and a plain-`requests` registry client to push and inspect them.

`make_image` builds layer/config/manifest bytes (Docker schema2 or OCI); `RigClient` pushes
images and buildx-style indexes with the rig's own admin auth and reads manifests back raw.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase

if TYPE_CHECKING:
    from .registry import RegistryProcess
    from .tokenserver import TokenServer

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
EPOCH = "1970-01-01T00:00:00Z"

Media = Literal["docker", "oci"]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=3).encode()


@dataclass(frozen=True)
class Blob:
    """Bytes with their media type, digest and size."""

    media_type: str
    data: bytes
    digest: str
    size: int

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Blob:
        return cls(media_type, data, sha256_digest(data), len(data))

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Image:
    """A one-layer image: `layer`, `config` and `manifest` blobs plus its OCI `platform`."""

    platform: dict[str, Any]
    layer: Blob
    config: Blob
    manifest: Blob
    diff_id: str

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def media_type(self) -> str:
        return self.manifest.media_type


def _layer_bytes(text: str) -> bytes:
    content = text.encode()
    info = tarfile.TarInfo("hello.txt")
    info.size, info.mtime, info.mode = len(content), 0, 0o644
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def make_image(
    os: str,
    arch: str,
    variant: str | None = None,
    os_version: str | None = None,
    os_features: Sequence[str] | None = None,
    media: Media = "docker",
    layer_text: str | None = None,
) -> Image:
    """Deterministic tiny image; the default layer text names the platform."""
    platform: dict[str, Any] = {"architecture": arch, "os": os}
    if variant:
        platform["variant"] = variant
    if os_version:
        platform["os.version"] = os_version
    if os_features:
        platform["os.features"] = list(os_features)
    tar = _layer_bytes(layer_text or f"manifestor rig layer {os}/{arch}/{variant or ''}\n")
    diff_id = sha256_digest(tar)
    manifest_type, config_type, layer_type = (
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        if media == "docker"
        else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    )
    layer = Blob.of(layer_type, gzip.compress(tar, mtime=0))
    config = Blob.of(
        config_type,
        _json(
            {
                **platform,
                "created": EPOCH,
                "config": {"Cmd": ["/hello.txt"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": EPOCH, "created_by": "manifestor test rig"}],
            }
        ),
    )
    manifest = Blob.of(
        manifest_type,
        _json(
            {
                "schemaVersion": 2,
                "mediaType": manifest_type,
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ),
    )
    return Image(platform, layer, config, manifest, diff_id)


@dataclass(frozen=True)
class PushedImage:
    repo: str
    ref: str
    digest: str
    size: int
    media_type: str
    config_digest: str
    manifest_bytes: bytes
    platform: dict[str, Any]
    image: Image

    def descriptor(self) -> dict[str, Any]:
        """The index/list entry for this image."""
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "platform": self.platform,
        }


@dataclass(frozen=True)
class PushedIndex:
    repo: str
    tag: str
    digest: str
    size: int
    media_type: str
    manifest_bytes: bytes
    attestation_digests: list[str]

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_bytes)


class RegistryError(RuntimeError):
    pass


class _AdminTokenAuth(AuthBase):
    """Bearer auth for the rig itself: mint a full-access token for the path's repository."""

    _REPO = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags)/")

    def __init__(self, token_server: TokenServer):
        self.token_server = token_server

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = urlsplit(request.url or "").path
        access = []
        if match := self._REPO.match(path):
            access.append(
                {"type": "repository", "name": match[1], "actions": ["pull", "push", "delete"]}
            )
        elif path == "/v2/_catalog":
            access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
        token = self.token_server.issue_token("rig-admin", access)
        request.headers["Authorization"] = f"Bearer {token}"
        return request


def admin_auth(registry: RegistryProcess) -> AuthBase | tuple[str, str] | None:
    """The rig's own credentials for `registry` (None when it has no auth)."""
    if registry.kind == "basic":
        return registry.admin_credentials
    if registry.kind == "token":
        assert registry.token_server is not None
        return _AdminTokenAuth(registry.token_server)
    return None


class RigClient:
    """Raw registry v2 client on one requests.Session (admin auth unless `auth` is given)."""

    def __init__(self, registry: RegistryProcess, auth: AuthBase | tuple[str, str] | None = None):
        self.registry = registry
        self.session = requests.Session()
        self.session.trust_env = False  # never route loopback traffic through an env proxy
        self.session.auth = auth or admin_auth(registry)
        if registry.ca_cert_path:
            self.session.verify = str(registry.ca_cert_path)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RigClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return f"{self.registry.url}{path}"

    def _check(self, response: requests.Response, *expected: int) -> requests.Response:
        if response.status_code not in expected:
            raise RegistryError(
                f"{response.request.method} {response.url} -> {response.status_code}:"
                f" {response.text[:500]}"
            )
        return response

    # -- reads --

    def get_manifest(
        self, repo: str, ref: str, accept: Sequence[str] = MANIFEST_TYPES
    ) -> requests.Response:
        """GET the manifest raw (any status); Accept = the given types, comma-joined."""
        return self.session.get(
            self.url(f"/v2/{repo}/manifests/{ref}"), headers={"Accept": ", ".join(accept)}
        )

    def get_blob(self, repo: str, digest: str) -> requests.Response:
        return self.session.get(self.url(f"/v2/{repo}/blobs/{digest}"))

    def blob_exists(self, repo: str, digest: str) -> bool:
        response = self.session.head(self.url(f"/v2/{repo}/blobs/{digest}"))
        return self._check(response, 200, 404).status_code == 200

    def list_tags(self, repo: str) -> list[str]:
        """Tags of `repo`; [] when the repository does not exist."""
        response = self._check(self.session.get(self.url(f"/v2/{repo}/tags/list")), 200, 404)
        return sorted(response.json().get("tags") or []) if response.status_code == 200 else []

    def delete_manifest(self, repo: str, digest: str) -> requests.Response:
        return self.session.delete(self.url(f"/v2/{repo}/manifests/{digest}"))

    # -- pushes --

    def push_blob(self, repo: str, blob: Blob) -> None:
        """Monolithic upload (POST then PUT ?digest=), skipped when HEAD finds the blob."""
        if self.blob_exists(repo, blob.digest):
            return
        started = self._check(self.session.post(self.url(f"/v2/{repo}/blobs/uploads/")), 202)
        location = urljoin(self.url("/"), started.headers["Location"])
        self._check(
            self.session.put(
                location,
                params={"digest": blob.digest},
                data=blob.data,
                headers={"Content-Type": "application/octet-stream"},
            ),
            201,
        )

    def put_manifest(self, repo: str, ref: str, manifest: Blob) -> str:
        """PUT manifest bytes to a tag or digest; returns the registry's digest."""
        response = self._check(
            self.session.put(
                self.url(f"/v2/{repo}/manifests/{ref}"),
                data=manifest.data,
                headers={"Content-Type": manifest.media_type},
            ),
            201,
        )
        digest = response.headers.get("Docker-Content-Digest", "")
        if digest != manifest.digest:
            raise RegistryError(f"registry digest {digest!r} != computed {manifest.digest}")
        return digest

    def push_image(self, repo: str, ref: str, image: Image) -> PushedImage:
        for blob in (image.config, image.layer):
            self.push_blob(repo, blob)
        self.put_manifest(repo, ref, image.manifest)
        return PushedImage(
            repo=repo,
            ref=ref,
            digest=image.digest,
            size=image.manifest.size,
            media_type=image.media_type,
            config_digest=image.config.digest,
            manifest_bytes=image.manifest.data,
            platform=image.platform,
            image=image,
        )

    def _push_attestation(self, repo: str, tag: str, child: PushedImage) -> dict[str, Any]:
        """An `unknown/unknown` in-toto attestation manifest for `child`; returns its entry."""
        predicate_type = "https://slsa.dev/provenance/v0.2"
        statement = {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": predicate_type,
            "subject": [
                {"name": f"pkg:docker/{repo}@{tag}", "digest": {"sha256": child.digest[7:]}}
            ],
            "predicate": {"builder": {"id": "manifestor-test-rig"}},
        }
        layer = Blob.of(IN_TOTO, _json(statement))
        config = Blob.of(
            OCI_CONFIG,
            _json(
                {
                    "architecture": "unknown",
                    "os": "unknown",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
                }
            ),
        )
        manifest = Blob.of(
            OCI_MANIFEST,
            _json(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": config.descriptor(),
                    "layers": [
                        layer.descriptor(annotations={"in-toto.io/predicate-type": predicate_type})
                    ],
                }
            ),
        )
        for blob in (config, layer):
            self.push_blob(repo, blob)
        self.put_manifest(repo, manifest.digest, manifest)
        return manifest.descriptor(
            annotations={
                "vnd.docker.reference.digest": child.digest,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            platform={"architecture": "unknown", "os": "unknown"},
        )

    def push_index(
        self,
        repo: str,
        tag: str,
        children: Sequence[PushedImage],
        media: Media = "oci",
        attestation: bool = True,
        annotations: Mapping[str, str] | None = None,
    ) -> PushedIndex:
        """buildx-style index of `children` (already in `repo`), one attestation per child."""
        entries = [child.descriptor() for child in children]
        if attestation:
            entries += [self._push_attestation(repo, tag, child) for child in children]
        media_type = OCI_INDEX if media == "oci" else DOCKER_LIST
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
        if media == "oci":
            index["annotations"] = dict(
                annotations
                or {
                    "org.opencontainers.image.created": EPOCH,
                    "org.opencontainers.image.description": "manifestor test rig index",
                }
            )
        manifest = Blob.of(media_type, _json(index))
        self.put_manifest(repo, tag, manifest)
        return PushedIndex(
            repo=repo,
            tag=tag,
            digest=manifest.digest,
            size=manifest.size,
            media_type=media_type,
            manifest_bytes=manifest.data,
            attestation_digests=[e["digest"] for e in entries if "annotations" in e],
        )


def push_image(
    registry: RegistryProcess,
    repo: str,
    ref: str,
    image: Image,
    auth: AuthBase | tuple[str, str] | None = None,
) -> PushedImage:
    """Push `image` to `registry` as `repo:ref` (tag or digest) with a one-off RigClient."""
    with RigClient(registry, auth) as client:
        return client.push_image(repo, ref, image)


def push_index(
    registry: RegistryProcess,
    repo: str,
    tag: str,
    children: Sequence[PushedImage],
    media: Media = "oci",
    attestation: bool = True,
    annotations: Mapping[str, str] | None = None,
    auth: AuthBase | tuple[str, str] | None = None,
) -> PushedIndex:
    """Push a buildx-style index of `children` with a one-off RigClient."""
    with RigClient(registry, auth) as client:
        return client.push_index(repo, tag, children, media, attestation, annotations)
