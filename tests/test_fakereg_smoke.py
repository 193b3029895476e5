"""The real manifestor client against the fake registry: an image pushed and read back, and a
one-shot release of two per-arch images into a list. This is the only fakereg test file that
imports manifestor, so the module moves of the package are updated here alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakereg import FakeRegistry, make_image
from fakereg.images import DOCKER_LIST, MANIFEST_TYPES

from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.oci import parse_manifest
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.release import ReleaseOptions, publish_release
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RegistryClient]:
    keychain = Keychain(tmp_path / "no-docker-config", environ={})
    retry = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
    with RegistryClient(keychain=keychain, retry=retry) as anonymous:
        yield anonymous


def test_client_pushes_an_image_and_reads_it_back(client, fake_registry: FakeRegistry):
    image = make_image("linux/arm64/v8")
    repo = parse_reference(f"{fake_registry.host}/team/app")
    for blob in (image.config, image.layer):
        client.upload_blob(repo, blob.digest, BodySource.of_bytes(blob.data))
    manifest = parse_manifest(image.manifest.data, image.manifest.media_type)
    target = parse_reference(f"{fake_registry.host}/team/app:v1")
    assert client.put_manifest(target, manifest).digest == image.digest
    assert client.get_manifest(target).raw == image.manifest.data
    assert fake_registry.tags("team/app") == {"v1": image.digest}
    accept = fake_registry.log.select("GET", r"/manifests/")[0].headers["accept"]
    assert set(accept.replace(" ", "").split(",")) == set(MANIFEST_TYPES)


def test_one_shot_release_of_two_seeded_images(client, fake_registry: FakeRegistry):
    host = fake_registry.host
    fake_registry.seed_image("team/app", "linux/amd64", tag="1.0-amd64")
    fake_registry.seed_image("team/app", "linux/arm64/v8", tag="1.0-arm64")
    release = Release(
        target=parse_reference(f"{host}/team/app:1.0"),
        sources=(
            SourceSpec(f"{host}/team/app:1.0-amd64"),
            SourceSpec(f"{host}/team/app:1.0-arm64"),
        ),
    )
    result = publish_release(client, release, ReleaseOptions())
    stored = fake_registry.get_manifest("team/app", "1.0")
    assert stored is not None and stored.digest == result.digest
    assert stored.media_type == DOCKER_LIST
    platforms = [m["platform"] for m in json.loads(stored.data)["manifests"]]
    assert [(p["os"], p["architecture"]) for p in platforms] == [
        ("linux", "amd64"),
        ("linux", "arm64"),
    ]
    assert fake_registry.tag_puts("team/app") == 1
