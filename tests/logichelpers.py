"""Helpers for the fast logic tests: manifestor's own client against the in-process scripted
registry (tests/fakereg), with retries that never sleep, entries built from the fake's tiny
images, and another writer that moves a tag at the moment a test chooses.

Every call into manifestor's workflows goes through here or through the test files that
import this module, so a change of signature is fixed in a few places."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakereg import FakeImage, FakeRegistry
from fakereg.images import DOCKER_LIST, make_list
from fakereg.script import LoggedRequest

from manifestor.local.keychain import Credential, Keychain
from manifestor.model.entries import ListEntry
from manifestor.model.oci import parse_manifest
from manifestor.model.platform import Platform
from manifestor.model.reference import Reference, parse_reference
from manifestor.ops import upsert
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, budget=60.0)


@contextmanager
def fake_client(
    tmp_path: Path,
    *,
    username: str | None = None,
    password: str | None = None,
    explicit_for: str | None = None,
    sleeps: list[float] | None = None,
) -> Iterator[RegistryClient]:
    """A RegistryClient with no docker config, explicit credentials if given, and a
    transport whose retry waits are recorded in `sleeps` instead of slept."""
    keychain = Keychain(
        tmp_path / "no-docker-config",
        username=username,
        password=password,
        environ={},
        explicit_for=explicit_for,
    )
    recorded = sleeps if sleeps is not None else []
    transport = Transport(retry=FAST_RETRY, sleep=recorded.append)
    with RegistryClient(keychain=keychain, transport=transport) as client:
        yield client


@contextmanager
def recording_upsert_waits(waits: list[float]) -> Iterator[list[float]]:
    """Upserts made through a release (which passes upsert_entries no `sleep`) or through
    upsert_list without one record their settle and jitter waits in `waits` instead of
    sleeping them, as the transport's retry waits are recorded: the scripted registry is
    consistent at once, so the wait changes no outcome, and the re-check after it still
    runs."""
    with pytest.MonkeyPatch.context() as patch:
        for function in (upsert.upsert_list, upsert.upsert_entries):
            defaults = function.__kwdefaults__
            assert defaults is not None and "sleep" in defaults, f"{function.__name__}: no sleep="
            patch.setitem(defaults, "sleep", waits.append)
        yield waits


class FixedKeychain(Keychain):
    """A keychain that hands out one Credential (e.g. an identity token) for every host."""

    def __init__(self, tmp_path: Path, credential: Credential | None) -> None:
        super().__init__(tmp_path / "no-docker-config", environ={})
        self._credential = credential

    def resolve(self, registry: str) -> Credential | None:
        return self._credential

    def may_have(self, registry: str) -> bool:
        return self._credential is not None


def ref(registry: FakeRegistry, text: str) -> Reference:
    return parse_reference(f"{registry.host}/{text}")


def entry_of(registry: FakeRegistry, repo: str, image: FakeImage) -> ListEntry:
    """The entry a source `repo@digest` resolves to (its platform from the config)."""
    manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
    platform = Platform.from_json(image.platform)
    return ListEntry(ref(registry, f"{repo}@{image.digest}"), manifest, platform)


def served_list(registry: FakeRegistry, repo: str, tag: str) -> dict:
    stored = registry.get_manifest(repo, tag)
    assert stored is not None, f"{repo}:{tag} is not there"
    return json.loads(stored.data)


def served_platforms(registry: FakeRegistry, repo: str, tag: str) -> list[str]:
    """`os/arch[/variant]` of each child of the list at `repo:tag`, in order."""
    out = []
    for child in served_list(registry, repo, tag)["manifests"]:
        p = child["platform"]
        out.append("/".join(p[k] for k in ("os", "architecture", "variant") if p.get(k)))
    return out


def writes(registry: FakeRegistry) -> list[LoggedRequest]:
    return [e for e in registry.log.entries if e.method in ("PUT", "POST", "PATCH", "DELETE")]


def summary(registry: FakeRegistry) -> str:
    """The request log, one `METHOD path status` per line (for assertion messages)."""
    return "\n".join(f"{e.method} {e.path} {e.status}" for e in registry.log.entries)


def other_writer_adds(registry: FakeRegistry, repo: str, tag: str, image: FakeImage) -> str:
    """Another job's upsert: the list at `tag` plus `image` (already seeded), written
    straight into the registry's state. Returns the new list's digest."""
    current = served_list(registry, repo, tag)
    doc = {
        "schemaVersion": 2,
        "mediaType": current["mediaType"],
        "manifests": [*current["manifests"], image.descriptor()],
    }
    data = json.dumps(doc, indent=3).encode()
    return registry.put_manifest(repo, tag, data, current["mediaType"])


def seed_list_of(registry: FakeRegistry, repo: str, tag: str, images: list[FakeImage]) -> str:
    listed = make_list(images, "docker")
    assert listed.media_type == DOCKER_LIST
    return registry.put_manifest(repo, tag, listed.data, listed.media_type)
