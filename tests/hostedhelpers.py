"""Helpers for the hosted-registry tests: manifestor's library against the in-process fake
registry (tests/fakereg) wearing one hosted registry's personality at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

from fakereg import PERSONALITIES, AuthConfig, FakeImage, FakeRegistry, Personality
from fakereg.images import Media
from logichelpers import recording_upsert_waits

from manifestor.local.keychain import Keychain
from manifestor.model.reference import Reference, parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.publish import PushResult
from manifestor.ops.release import ReleaseOptions, publish_release
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

USER, PASSWORD = "alice", "alice-pw"
# A budget that fits Docker Hub's Retry-After: 60 (the tests' sleeps are recorded, not slept).
FAST_RETRY = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05, budget=600.0)


def bearer(**users: str) -> AuthConfig:
    """Token auth; every user may do everything, anonymous may pull `public/*`."""
    return AuthConfig("bearer", users or {USER: PASSWORD}, anonymous=[("public/*", ["pull"])])


@dataclass
class Sleeps:
    """A Transport sleep that records the waits and does not wait."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Hosted:
    """One fake registry with a personality, and a manifestor client for it."""

    registry: FakeRegistry
    client: RegistryClient
    notices: list[str]
    sleeps: Sleeps
    upsert_waits: list[float]  # an upsert's settle waits, recorded and not slept

    @property
    def host(self) -> str:
        return self.registry.host

    def ref(self, text: str) -> Reference:
        return parse_reference(f"{self.host}/{text}")

    def seed_sources(
        self,
        repo: str = "src/app",
        platforms: Sequence[str] = ("linux/amd64", "linux/arm64/v8"),
        media: Media | None = None,
    ) -> list[FakeImage]:
        """Per-arch images pushed by someone else, tagged `1.0-<arch>`; OCI images on a
        registry that refuses Docker types (Zot), else Docker ones."""
        if media is None:
            media = "oci" if self.registry.personality.docker_types_refused else "docker"
        images = []
        for platform in platforms:
            _, arch, *variant = platform.split("/")
            arch += variant[0] if arch == "arm" and variant else ""
            images.append(self.registry.seed_image(repo, platform, tag=f"1.0-{arch}", media=media))
        return images

    def release(
        self,
        target: str,
        sources: Sequence[str],
        tags: Sequence[str] = (),
        annotations: dict[str, str] | None = None,
    ) -> Release:
        return Release(
            self.ref(target),
            tuple(SourceSpec(f"{self.host}/{s}") for s in sources),
            tuple(tags),
            annotations or {},
        )

    def publish(
        self,
        target: str,
        sources: Sequence[str],
        *,
        upsert: bool = False,
        notes: list[str] | None = None,
        **kwargs: object,
    ) -> PushResult:
        release = self.release(target, sources, **kwargs)  # type: ignore[arg-type]
        notify = notes.append if notes is not None else None
        return publish_release(self.client, release, ReleaseOptions(upsert=upsert), notify=notify)

    def tag_puts(self, repo: str, tag: str) -> int:
        return self.registry.count("PUT", rf"/v2/{repo}/manifests/{tag}$")

    def list_children(self, repo: str, tag: str) -> list[str]:
        stored = self.registry.get_manifest(repo, tag)
        assert stored is not None, f"{repo}:{tag} is not there"
        return [m["digest"] for m in json.loads(stored.data)["manifests"]]


@contextmanager
def hosted(
    personality: Personality | str,
    tmp_path: Path,
    *,
    auth: AuthConfig | None = None,
    username: str | None = None,
    password: str | None = None,
    keychain: Keychain | None = None,
    retry: RetryPolicy = FAST_RETRY,
    real_sleep: bool = False,
) -> Iterator[Hosted]:
    """A fake registry with `personality` (a name in PERSONALITIES, or a Personality) and a
    client logged in as `username` (none: anonymous; no Docker config is read)."""
    if isinstance(personality, str):
        personality = PERSONALITIES[personality]
    notices: list[str] = []
    sleeps = Sleeps()
    if keychain is None:
        keychain = Keychain(
            tmp_path / "no-docker-config", username=username, password=password, environ={}
        )
    waits: list[float] = []
    recording = nullcontext() if real_sleep else recording_upsert_waits(waits)
    with FakeRegistry(personality, auth=auth) as registry, recording:
        transport = Transport(retry=retry, **({} if real_sleep else {"sleep": sleeps}))
        with RegistryClient(keychain=keychain, transport=transport) as client:
            client.notice = notices.append
            yield Hosted(registry, client, notices, sleeps, waits)


def with_quirks(preset: str, **changes: object) -> Personality:
    """A preset personality with some switches changed."""
    return replace(PERSONALITIES[preset], **changes)  # type: ignore[arg-type]
