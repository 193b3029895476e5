"""RegistryClient operations against real registries: manifests, lists, typed errors carrying
the registry's codes, cross-repository mounts, streamed uploads, copies and tag lists."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from rig.faultproxy import status, truncate
from rig.images import DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST, make_image, push_image

from manifestor.errors import DigestMismatchError, ManifestBlobUnknownError, NotFoundError
from manifestor.local.keychain import Keychain
from manifestor.model.body import BodySource
from manifestor.model.oci import parse_manifest
from manifestor.model.reference import Reference, parse_reference
from manifestor.remote.client import ManifestInfo, RegistryClient
from manifestor.remote.retry import RetryPolicy

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RegistryClient]:
    """An anonymous client with fast retries."""
    keychain = Keychain(tmp_path / "no-docker-config", environ={})
    with RegistryClient(keychain=keychain, retry=FAST_RETRY) as anonymous:
        yield anonymous


def _ref(host: str, name: str) -> Reference:
    return parse_reference(f"{host}/{name}")


def _list_of(*children) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [child.descriptor() for child in children],
        },
        indent=3,
    ).encode()


# -- manifests and typed errors --


def test_head_and_get_manifest_describe_the_same_bytes(registry_plain, tiny_images, client):
    pushed = tiny_images["ppc64le"]
    ref = _ref(registry_plain.host, "lab/app:1.0-ppc64le")
    assert client.head_manifest(ref) == ManifestInfo(pushed.digest, OCI_MANIFEST, pushed.size)
    manifest = client.get_manifest(ref)
    assert manifest.raw == pushed.manifest_bytes
    assert (manifest.media_type, manifest.digest) == (OCI_MANIFEST, pushed.digest)
    assert client.get_manifest(ref.with_digest(pushed.digest)).raw == pushed.manifest_bytes


def test_missing_tag_is_not_found_with_the_registry_code(registry_plain, tiny_images, client):
    ref = _ref(registry_plain.host, "lab/app:no-such-tag")
    with pytest.raises(NotFoundError) as caught:
        client.get_manifest(ref)
    assert caught.value.status == 404
    assert "MANIFEST_UNKNOWN" in caught.value.codes
    assert "\n" not in str(caught.value) and str(ref) in str(caught.value)
    assert client.head_manifest(ref) is None


def test_missing_repository_and_blob_carry_their_codes(registry_plain, tiny_images, client):
    with pytest.raises(NotFoundError) as no_repo:
        client.list_tags(_ref(registry_plain.host, "ops/never-pushed"))
    assert "NAME_UNKNOWN" in no_repo.value.codes
    with pytest.raises(NotFoundError) as no_blob:
        client.get_blob(_ref(registry_plain.host, "lab/app"), "sha256:" + "0" * 64)
    assert "BLOB_UNKNOWN" in no_blob.value.codes


def test_list_whose_child_is_absent_is_manifest_blob_unknown(registry_plain, tiny_images, client):
    present, absent = tiny_images["amd64"], tiny_images["arm64"]
    ref = _ref(registry_plain.host, "ops/incomplete-list:v1")
    push_image(registry_plain, "ops/incomplete-list", "amd64", present.image)
    listed = parse_manifest(_list_of(present, absent), DOCKER_LIST)
    with pytest.raises(ManifestBlobUnknownError) as caught:
        client.put_manifest(ref, listed)
    assert "MANIFEST_BLOB_UNKNOWN" in caught.value.codes
    assert absent.digest in str(caught.value) and present.digest not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_list_of_present_children_is_pushed_and_read_back(registry_plain, tiny_images, client):
    children = [tiny_images["amd64"], tiny_images["windows"]]
    for child in children:
        push_image(registry_plain, "ops/list", child.digest, child.image)
    ref = _ref(registry_plain.host, "ops/list:v1")
    listed = parse_manifest(_list_of(*children), DOCKER_LIST)
    assert client.put_manifest(ref, listed).digest == listed.digest
    read = client.get_manifest(ref)
    assert read.raw == listed.raw and read.is_list
    assert [c.digest for c in read.children] == [c.digest for c in children]


def test_delete_manifest_by_digest(registry_plain, client):
    image = make_image("linux", "amd64", layer_text="to be deleted")
    pushed = push_image(registry_plain, "ops/delete", "v1", image)
    ref = _ref(registry_plain.host, "ops/delete:v1")
    client.delete_manifest(ref.with_digest(pushed.digest))
    assert client.head_manifest(ref) is None


# -- blobs: mounts, uploads, copies --


def test_blob_is_mounted_from_a_sibling_repository(
    registry_plain, tiny_images, fault_proxy, client
):
    proxy = fault_proxy(registry_plain)
    layer = tiny_images["amd64"].image.layer
    target = _ref(proxy.host, "ops/mount-target")
    assert client.mount_blob(target, layer.digest, _ref(proxy.host, "lab/app"))
    assert client.blob_exists(target, layer.digest)
    [mount] = [r for r in proxy.requests if r.method == "POST"]
    assert mount.status == 201
    assert parse_qs(mount.query) == {"mount": [layer.digest], "from": ["lab/app"]}
    assert not [r for r in proxy.requests if r.method in ("PUT", "PATCH")]


def test_mount_from_a_repository_lacking_the_blob_cancels_the_upload(
    registry_plain, tiny_images, fault_proxy, client
):
    proxy = fault_proxy(registry_plain)
    layer = tiny_images["arm64"].image.layer
    target = _ref(proxy.host, "ops/mount-refused")
    assert not client.mount_blob(target, layer.digest, _ref(proxy.host, "ops/lacks-the-blob"))
    assert [(r.method, r.status) for r in proxy.requests if r.path != "/v2/"] == [
        ("POST", 202),
        ("DELETE", 204),
    ]
    [cancel] = [r for r in proxy.requests if r.method == "DELETE"]
    assert cancel.path.startswith("/v2/ops/mount-refused/blobs/uploads/")
    assert not client.blob_exists(target, layer.digest)


def test_streamed_upload_is_reopened_for_a_retried_put(registry_plain, fault_proxy, client):
    data = os.urandom(300 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    openings: list[int] = []

    def chunks() -> Iterator[bytes]:
        openings.append(1)
        return (data[i : i + 64 * 1024] for i in range(0, len(data), 64 * 1024))

    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("PUT", "/blobs/uploads/"), status(503))
    repo = _ref(proxy.host, "ops/streamed")
    client.upload_blob(repo, digest, BodySource(chunks, len(data)))
    assert len(openings) == 2  # a fresh stream for the retry, never the consumed one
    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [503, 201]
    assert all(r.header_values("Content-Length") == [str(len(data))] for r in puts)
    assert client.get_blob(repo, digest) == data


def test_image_is_copied_between_registries(
    registry_plain, second_registry_plain, tiny_images, client
):
    pushed = tiny_images["armv7"]
    source = _ref(registry_plain.host, "lab/app:1.0-armv7")
    target = _ref(second_registry_plain.host, "ops/copied:armv7")
    manifest = client.get_manifest(source)
    for blob in manifest.blobs():
        assert not client.blob_exists(target, blob.digest)
        client.copy_blob(source, target, blob.digest, blob.size)
        assert client.blob_exists(target, blob.digest)
    assert client.get_blob(target, pushed.config_digest) == pushed.image.config.data
    assert client.put_manifest(target, manifest).digest == pushed.digest
    assert client.get_manifest(target).raw == pushed.manifest_bytes


def test_streamed_blob_with_other_content_is_rejected(
    registry_plain, tiny_images, fault_proxy, client
):
    layer = tiny_images["amd64"].image.layer
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", "/blobs/"), status(200, body=b"not the layer"))
    stream = client.open_blob(_ref(proxy.host, "lab/app"), layer.digest)
    with pytest.raises(DigestMismatchError):
        b"".join(stream)


def test_copy_reopens_the_source_when_its_stream_breaks(
    registry_plain, second_registry_plain, tiny_images, fault_proxy, client
):
    layer = tiny_images["ppc64le"].image.layer
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", "/blobs/"), truncate())
    target = _ref(second_registry_plain.host, "ops/copied-after-break")
    client.copy_blob(_ref(proxy.host, "lab/app"), target, layer.digest, layer.size)
    assert [r.fault for r in proxy.requests if "/blobs/" in r.path] == ["truncate", None]
    assert client.get_blob(target, layer.digest) == layer.data


def test_copy_of_a_corrupt_source_blob_is_rejected(
    registry_plain, second_registry_plain, tiny_images, fault_proxy, client
):
    layer = tiny_images["windows"].image.layer
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", "/blobs/"), status(200, body=bytes(layer.size)))
    target = _ref(second_registry_plain.host, "ops/copied-corrupt")
    with pytest.raises(DigestMismatchError):
        client.copy_blob(_ref(proxy.host, "lab/app"), target, layer.digest, layer.size)
    assert not client.blob_exists(target, layer.digest)


# -- tags --


@pytest.fixture(scope="module")
def tagged_repo(registry_plain) -> str:
    image = make_image("linux", "amd64", layer_text="tagged")
    for tag in ("a", "b", "c"):
        push_image(registry_plain, "ops/tags", tag, image)
    return "ops/tags"


def test_list_tags(registry_plain, tagged_repo, client):
    assert sorted(client.list_tags(_ref(registry_plain.host, tagged_repo))) == ["a", "b", "c"]


def test_list_tags_follows_the_next_link(registry_plain, tagged_repo, fault_proxy, client):
    # distribution 2.8 ignores n/last on tag lists, so the proxy serves both pages.
    proxy = fault_proxy(registry_plain)
    link = f'</v2/{tagged_repo}/tags/list?n=2&last=b>; rel="next"'
    for tags, headers in ((["a", "b"], {"Link": link}), (["c"], {})):
        page = json.dumps({"name": tagged_repo, "tags": tags}).encode()
        proxy.add_fault(
            ("GET", "/tags/list"),
            status(200, {"Content-Type": "application/json", **headers}, page),
        )
    assert client.list_tags(_ref(proxy.host, tagged_repo)) == ["a", "b", "c"]
    pages = [r for r in proxy.requests if r.path.endswith("/tags/list")]
    assert [(r.path, r.query) for r in pages] == [
        (f"/v2/{tagged_repo}/tags/list", ""),
        (f"/v2/{tagged_repo}/tags/list", "n=2&last=b"),
    ]


def test_manifest_types_are_kept_as_pushed(registry_plain, client):
    image = make_image("linux", "s390x", layer_text="docker type")
    push_image(registry_plain, "ops/types", "v1", image)
    info = client.head_manifest(_ref(registry_plain.host, "ops/types:v1"))
    assert info is not None and info.media_type == DOCKER_MANIFEST
