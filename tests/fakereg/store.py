"""In-memory registry state: content-addressed blobs, per-repository links, manifests, tags
and open uploads. One lock guards it all; every method is a small atomic step."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StoredManifest:
    media_type: str
    data: bytes
    digest: str


@dataclass
class Repository:
    blobs: set[str] = field(default_factory=set)  # digests linked into this repository
    manifests: dict[str, StoredManifest] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> digest
    pushed: bool = False  # created by a client push (not seeded): GHCR makes these private


@dataclass
class Upload:
    repo: str
    data: bytearray = field(default_factory=bytearray)
    frozen_range: int = 0  # ECR: the Range end reported after the first chunk


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.blobs: dict[str, bytes] = {}
        self.repos: dict[str, Repository] = {}
        self.uploads: dict[str, Upload] = {}

    def repo(self, name: str, *, create: bool = False) -> Repository | None:
        with self.lock:
            if create and name not in self.repos:
                self.repos[name] = Repository()
            return self.repos.get(name)

    def link_blob(self, repo: str, digest: str, data: bytes) -> None:
        with self.lock:
            self.blobs[digest] = data
            self.repo(repo, create=True).blobs.add(digest)  # type: ignore[union-attr]

    def blob(self, repo: str, digest: str) -> bytes | None:
        with self.lock:
            found = self.repos.get(repo)
            return self.blobs.get(digest) if found and digest in found.blobs else None

    def put_manifest(self, repo: str, manifest: StoredManifest, tag: str | None) -> None:
        with self.lock:
            stored = self.repo(repo, create=True)
            assert stored is not None
            stored.manifests[manifest.digest] = manifest
            # Distribution stores a manifest as a blob of its repository, so HEAD on the
            # blob endpoint finds it too.
            self.blobs[manifest.digest] = manifest.data
            stored.blobs.add(manifest.digest)
            if tag is not None:
                stored.tags[tag] = manifest.digest

    def manifest(self, repo: str, ref: str) -> StoredManifest | None:
        with self.lock:
            found = self.repos.get(repo)
            if found is None:
                return None
            digest = ref if ref.startswith("sha256:") else found.tags.get(ref)
            return found.manifests.get(digest) if digest else None

    def open_upload(self, repo: str) -> str:
        with self.lock:
            upload_id = secrets.token_hex(16)
            self.uploads[upload_id] = Upload(repo)
            return upload_id
