"""The local store's error paths and legacy formats, answer by answer: exact messages (one
line, naming the file), what an update keeps (position, list name), what a summary says
about a broken list, and docker's pre-2023 entries. Written against the survivors of a
mutation run (scripts/mutation.sh); test_store.py covers the main behaviour."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_store import (
    AMD64,
    ARM64,
    ARMV7,
    LIST,
    LIST_DIR,
    REGISTRY,
    make_entry,
    manifest_bytes,
    write_docker_file,
)

from manifestor.errors import (
    CorruptListError,
    EntryNotFoundError,
    ListNotFoundError,
    StoreError,
)
from manifestor.local.store import ManifestStore, StoredEntry
from manifestor.model.oci import DOCKER_MANIFEST, OCI_MANIFEST, sha256_digest
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_reference


@pytest.fixture
def store(tmp_path: Path) -> ManifestStore:
    return ManifestStore(tmp_path)


def entry_path(store: ManifestStore, name: str) -> Path:
    return store.root / LIST_DIR / name


# -- update_entry ---------------------------------------------------------------------------


def test_update_of_a_missing_list_or_entry_says_which(store):
    with pytest.raises(ListNotFoundError) as caught:
        store.update_entry(LIST, AMD64)
    assert str(caught.value) == f"No such manifest list: {LIST}"

    store.save(LIST, [ARM64], replace=False)
    with pytest.raises(EntryNotFoundError) as caught:
        store.update_entry(LIST, AMD64)
    assert str(caught.value) == f"manifest for image {AMD64.ref} does not exist in {LIST}"


def test_update_keeps_the_position_and_the_list_name(store):
    store.save(LIST, [ARMV7, AMD64, ARM64], replace=False)
    moved = StoredEntry(AMD64.ref, AMD64.descriptor, AMD64.raw, order=99)

    store.update_entry(LIST, moved)

    assert [e.ref for e in store.get(LIST).entries] == [ARMV7.ref, AMD64.ref, ARM64.ref]
    body = json.loads(entry_path(store, "127.0.0.1-5056_app-1-amd64").read_bytes())
    assert body["manifestorList"] == str(LIST) and body["manifestorOrder"] == 1


def test_update_of_a_corrupt_entry_replaces_it_with_the_order_given(store):
    store.save(LIST, [ARMV7, AMD64], replace=False)
    entry_path(store, "127.0.0.1-5056_app-1-amd64").write_bytes(b"garbage")

    store.update_entry(LIST, StoredEntry(AMD64.ref, AMD64.descriptor, AMD64.raw, order=5))

    body = json.loads(entry_path(store, "127.0.0.1-5056_app-1-amd64").read_bytes())
    assert body["manifestorOrder"] == 5 and body["Ref"] == AMD64.ref


def test_update_refuses_an_entry_whose_file_holds_another_image(store):
    first = make_entry(f"{REGISTRY}/app:1-x", "amd64")
    other = make_entry(f"{REGISTRY}/app-1:x", "arm64")  # the same file name in docker's store
    store.save(LIST, [first], replace=False)

    with pytest.raises(StoreError) as caught:
        store.update_entry(LIST, other)

    assert str(caught.value) == (
        f"{other.ref} and {first.ref} collide in docker's store (both are stored as "
        "127.0.0.1-5056_app-1-x); use another name"
    )


def test_update_that_cannot_read_the_entry_names_it(store):
    store.save(LIST, [AMD64], replace=False)
    path = entry_path(store, "127.0.0.1-5056_app-1-amd64")
    path.unlink()
    path.mkdir()  # a directory where the entry file should be

    with pytest.raises(StoreError) as caught:
        store.update_entry(LIST, AMD64)

    assert str(caught.value) == f"cannot read {path}: Is a directory: {path}"


def test_update_that_cannot_write_names_the_entry_and_leaves_no_temp_file(store, monkeypatch):
    store.save(LIST, [AMD64], replace=False)
    path = entry_path(store, "127.0.0.1-5056_app-1-amd64")
    before = path.read_bytes()

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("manifestor.local.store.os.replace", refuse)
    with pytest.raises(StoreError) as caught:
        store.update_entry(LIST, make_entry(AMD64.ref, "amd64", "v2"))
    monkeypatch.undo()

    assert str(caught.value) == f"cannot update {path}: No space left on device"
    assert path.read_bytes() == before
    assert os.listdir(store.root / ".manifestor-tmp") == []


# -- get_entry ------------------------------------------------------------------------------


def test_get_entry_errors_name_the_file(store):
    store.save(LIST, [AMD64], replace=False)
    path = entry_path(store, "127.0.0.1-5056_app-1-amd64")
    path.write_bytes(b"[]")

    with pytest.raises(CorruptListError) as caught:
        store.get_entry(LIST, parse_reference(AMD64.ref))
    assert str(caught.value) == f"manifest list {LIST} is corrupt: {path}: not a JSON object"

    path.unlink()
    path.mkdir()
    with pytest.raises(StoreError) as caught:
        store.get_entry(LIST, parse_reference(AMD64.ref))
    assert str(caught.value) == f"cannot read {path}: Is a directory"


def test_get_entry_refuses_another_image_stored_under_the_same_file_name(store):
    first = make_entry(f"{REGISTRY}/app:1-x", "amd64")
    store.save(LIST, [first], replace=False)
    other = parse_reference(f"{REGISTRY}/app-1:x")

    with pytest.raises(StoreError) as caught:
        store.get_entry(LIST, other)

    assert str(caught.value) == (
        f"{other} and {first.ref} collide in docker's store (both are stored as "
        "127.0.0.1-5056_app-1-x); use another name"
    )


# -- summaries -------------------------------------------------------------------------------


def test_summary_of_a_list_with_several_bad_files_counts_the_others(store):
    store.save(LIST, [AMD64, ARM64, ARMV7], replace=False)
    for name in ("127.0.0.1-5056_app-1-amd64", "127.0.0.1-5056_app-1-arm64"):
        entry_path(store, name).write_bytes(b"[]")

    (summary,) = store.summaries()

    assert summary.corrupt == "127.0.0.1-5056_app-1-amd64: not a JSON object (and 1 more)"
    assert summary.entries == 3


def test_summary_of_a_list_with_one_bad_file_has_no_count(store):
    store.save(LIST, [AMD64, ARM64], replace=False)
    entry_path(store, "127.0.0.1-5056_app-1-arm64").write_bytes(b"[]")

    (summary,) = store.summaries()

    assert summary.corrupt == "127.0.0.1-5056_app-1-arm64: not a JSON object"


def test_summary_of_a_directory_whose_entries_name_two_lists(store):
    store.save(LIST, [AMD64], replace=False)
    other = StoredEntry(ARM64.ref, ARM64.descriptor, ARM64.raw)
    store.save(parse_reference(f"{REGISTRY}/other:v1"), [other], replace=False)
    moved = store.root / "127.0.0.1-5056_other-v1" / "127.0.0.1-5056_app-1-arm64"
    os.rename(moved, entry_path(store, "127.0.0.1-5056_app-1-arm64"))

    summaries = {s.name: s for s in store.summaries()}

    mixed = summaries[str(LIST)]
    assert mixed.corrupt == (f"its entries name different lists: {LIST}, {REGISTRY}/other:v1")
    assert mixed.entries == 2


def test_summaries_of_an_unreadable_root_say_so(tmp_path):
    (tmp_path / "manifests").write_text("not a directory")
    with pytest.raises(StoreError) as caught:
        ManifestStore(tmp_path).summaries()
    root = tmp_path / "manifests"
    assert str(caught.value) == f"cannot list {root}: Not a directory: {root}"


# -- docker's legacy entries -----------------------------------------------------------------


def legacy(arch: str, digest: object, payload_key: str | None, payload: bytes, **extra) -> bytes:
    head = {"Ref": f"{REGISTRY}/app:1-{arch}", "Digest": digest, **extra}
    text = json.dumps(head)[:-1]
    if payload_key is None:
        return (text + "}").encode()
    return (text + f', "{payload_key}": ').encode() + payload + b"}"


def test_a_legacy_oci_entry_is_read_with_its_type_and_platform(store):
    payload = manifest_bytes("arm64", media_type=OCI_MANIFEST, indent=None)
    body = legacy(
        "arm64",
        sha256_digest(payload),
        "OCIManifest",
        payload,
        Platform={"architecture": "arm64", "os": "linux", "variant": "v8"},
    )
    write_docker_file(store, LIST_DIR, "127.0.0.1-5056_app-1-arm64", body)

    (entry,) = store.get(LIST).entries

    assert entry.raw == payload
    assert entry.descriptor.media_type == OCI_MANIFEST
    assert entry.descriptor.platform == Platform("linux", "arm64", "v8")
    assert entry.descriptor.size == len(payload)


def test_a_legacy_entry_whose_payload_does_not_hash_has_size_zero_and_no_bytes(store):
    payload = manifest_bytes("amd64", indent=None)
    body = legacy("amd64", "sha256:" + "0" * 64, "SchemaV2Manifest", payload, Platform="x")
    write_docker_file(store, LIST_DIR, "127.0.0.1-5056_app-1-amd64", body)

    (entry,) = store.get(LIST).entries

    assert entry.raw is None
    assert entry.descriptor.media_type == DOCKER_MANIFEST
    assert entry.descriptor.size == 0 and entry.descriptor.platform is None


@pytest.mark.parametrize(
    ("digest", "payload_key", "reason"),
    [
        (5, "SchemaV2Manifest", '"Digest" is not a string'),
        ("sha256:" + "0" * 64, None, "legacy entry has no SchemaV2Manifest or OCIManifest"),
    ],
)
def test_broken_legacy_entries_are_corrupt_with_the_reason(store, digest, payload_key, reason):
    payload = manifest_bytes("amd64", indent=None)
    write_docker_file(
        store, LIST_DIR, "127.0.0.1-5056_app-1-amd64", legacy("amd64", digest, payload_key, payload)
    )
    path = entry_path(store, "127.0.0.1-5056_app-1-amd64")

    with pytest.raises(CorruptListError) as caught:
        store.get(LIST)

    assert str(caught.value).endswith(f"{path}: {reason}")


def test_an_entry_with_whitespace_before_its_members_still_yields_exact_bytes(store):
    payload = manifest_bytes("amd64", indent=None)
    head = f'  {{ "Ref" : "{REGISTRY}/app:1-amd64" , "Digest":"{sha256_digest(payload)}",'
    body = (head + ' "SchemaV2Manifest" : ').encode() + payload + b" }"
    write_docker_file(store, LIST_DIR, "127.0.0.1-5056_app-1-amd64", body)

    (entry,) = store.get(LIST).entries

    assert entry.raw == payload
