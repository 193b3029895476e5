"""The local list store: docker's layout and entry JSON, the user's order, atomic saves,
collisions, corrupt and legacy files, locking, and round trips through the docker CLI."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from tools import require_tool

import manifestor.local.store as store_module
from manifestor.errors import (
    CorruptListError,
    EntryNotFoundError,
    ListExistsError,
    ListNotFoundError,
    StoreError,
)
from manifestor.local.store import (
    LOCK_DIR,
    TMP_DIR,
    ManifestStore,
    StoredEntry,
    docker_store_name,
)
from manifestor.model.oci import DOCKER_MANIFEST, OCI_MANIFEST, parse_manifest, sha256_digest
from manifestor.model.platform import Platform
from manifestor.model.reference import Reference, parse_reference

REGISTRY = "127.0.0.1:5056"
LIST = parse_reference(f"{REGISTRY}/app:v1")
LIST_DIR = "127.0.0.1-5056_app-v1"

# A file `docker manifest create --insecure 127.0.0.1:59609/app:v1 127.0.0.1:59609/app:1-arm64`
# wrote (docker 28.2.2), byte for byte: compact, no trailing newline, the registry's bytes
# in Raw and their compacted copy in SchemaV2Manifest.
DOCKER_LIST = parse_reference("127.0.0.1:59609/app:v1")
DOCKER_ENTRY_NAME = "127.0.0.1-59609_app-1-arm64"
DOCKER_DIGEST = "sha256:6e0debb99b3a25ba58362972764dc868e14fa920d2ac4a153bcda110907d17af"
DOCKER_RAW_B64 = (
    "ewogICAic2NoZW1hVmVyc2lvbiI6IDIsCiAgICJtZWRpYVR5cGUiOiAiYXBwbGljYXRpb24vdm5kLmRvY2tlci5k"
    "aXN0cmlidXRpb24ubWFuaWZlc3QudjIranNvbiIsCiAgICJjb25maWciOiB7CiAgICAgICJtZWRpYVR5cGUiOiAi"
    "YXBwbGljYXRpb24vdm5kLmRvY2tlci5jb250YWluZXIuaW1hZ2UudjEranNvbiIsCiAgICAgICJkaWdlc3QiOiAi"
    "c2hhMjU2OjU1MWE2NTAwNjE4NmVhODc5N2EwMDUyNDk0NmU5MTI0OTYxZTg1Zjg4MTk2Y2Y2NWY4ZmM2YWY4NGI3"
    "NjlhYjkiLAogICAgICAic2l6ZSI6IDQ1NQogICB9LAogICAibGF5ZXJzIjogWwogICAgICB7CiAgICAgICAgICJt"
    "ZWRpYVR5cGUiOiAiYXBwbGljYXRpb24vdm5kLmRvY2tlci5pbWFnZS5yb290ZnMuZGlmZi50YXIuZ3ppcCIsCiAg"
    "ICAgICAgICJkaWdlc3QiOiAic2hhMjU2OjljM2I0NWRiNjAwYzM3ZTVkMzBmNzdkZGYyNWU4MzFhZDExYmNjZTgx"
    "OGE3Yzc3ZDA0ZTlmMTJiM2U1YTk0NjkiLAogICAgICAgICAic2l6ZSI6IDEzMwogICAgICB9CiAgIF0KfQ=="
)
DOCKER_ENTRY = (
    '{"Ref":"127.0.0.1:59609/app:1-arm64","Descriptor":{"mediaType":'
    '"application/vnd.docker.distribution.manifest.v2+json","digest":"' + DOCKER_DIGEST + '",'
    '"size":523,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},'
    '"Raw":"' + DOCKER_RAW_B64 + '","SchemaV2Manifest":{"schemaVersion":2,"mediaType":'
    '"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":'
    '"application/vnd.docker.container.image.v1+json","digest":'
    '"sha256:551a65006186ea8797a00524946e9124961e85f88196cf65f8fc6af84b769ab9","size":455},'
    '"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":'
    '"sha256:9c3b45db600c37e5d30f77ddf25e831ad11bcce818a7c77d04e9f12b3e5a9469","size":133}]}}'
).encode()


def manifest_bytes(
    arch: str, *, media_type: str = DOCKER_MANIFEST, indent: int | None = 3
) -> bytes:
    """A tiny image manifest (config + one layer), pretty-printed like a registry's."""
    oci = media_type == OCI_MANIFEST
    config = json.dumps({"architecture": arch, "os": "linux"}).encode()
    layer = f"layer for {arch}".encode()
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json"
            if oci
            else "application/vnd.docker.container.image.v1+json",
            "digest": sha256_digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                if oci
                else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": sha256_digest(layer),
                "size": len(layer),
            }
        ],
    }
    separators = None if indent else (",", ":")
    return json.dumps(body, indent=indent, separators=separators).encode()


def make_entry(
    source: str,
    arch: str,
    variant: str | None = None,
    *,
    media_type: str = DOCKER_MANIFEST,
    annotations: dict[str, str] | None = None,
) -> StoredEntry:
    raw = manifest_bytes(arch, media_type=media_type)
    descriptor = parse_manifest(raw).descriptor(Platform("linux", arch, variant))
    if annotations:
        descriptor = type(descriptor)(
            descriptor.media_type,
            descriptor.digest,
            descriptor.size,
            descriptor.platform,
            annotations,
        )
    return StoredEntry(str(parse_reference(source)), descriptor, raw)


AMD64 = make_entry(f"{REGISTRY}/app:1-amd64", "amd64")
ARM64 = make_entry(f"{REGISTRY}/app:1-arm64", "arm64", "v8")
ARMV7 = make_entry(f"{REGISTRY}/app:1-armv7", "arm", "v7")


def ref(text: str) -> Reference:
    return parse_reference(text)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def store(tmp_path: Path) -> ManifestStore:
    return ManifestStore(tmp_path)


def without_order(entry: StoredEntry) -> StoredEntry:
    return StoredEntry(entry.ref, entry.descriptor, entry.raw)


# --- layout and format ------------------------------------------------------------------


def test_root_is_manifests_under_the_config_dir(tmp_path: Path, monkeypatch) -> None:
    assert ManifestStore(tmp_path).root == tmp_path / "manifests"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "env"))
    assert ManifestStore().root == tmp_path / "env" / "manifests"


def test_file_names_use_dockers_encoding(store: ManifestStore) -> None:
    pinned = make_entry(f"{REGISTRY}/app:1-amd64", "amd64")
    by_digest = StoredEntry(
        f"{REGISTRY}/app@{pinned.descriptor.digest}", pinned.descriptor, pinned.raw
    )
    store.save(LIST, [AMD64, by_digest], replace=False)

    names = sorted(os.listdir(store.root / LIST_DIR))
    hex_digest = pinned.descriptor.digest.removeprefix("sha256:")
    assert names == ["127.0.0.1-5056_app-1-amd64", f"127.0.0.1-5056_app@sha256-{hex_digest}"]
    assert (
        docker_store_name("docker.io/library/busybox:latest") == "docker.io_library_busybox-latest"
    )


def test_directories_are_0755_and_files_0644(store: ManifestStore) -> None:
    store.save(LIST, [AMD64], replace=False)
    list_dir = store.root / LIST_DIR
    assert stat.S_IMODE(list_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE((list_dir / "127.0.0.1-5056_app-1-amd64").stat().st_mode) == 0o644


def test_entry_is_compact_json_with_dockers_keys_first(store: ManifestStore) -> None:
    store.save(LIST, [ARM64], replace=False)
    content = (store.root / LIST_DIR / "127.0.0.1-5056_app-1-arm64").read_bytes()

    body = json.loads(content)
    assert list(body) == [
        "Ref",
        "Descriptor",
        "Raw",
        "SchemaV2Manifest",
        "manifestorList",
        "manifestorOrder",
    ]
    assert json.dumps(body, separators=(",", ":")).encode() == content
    assert body["Ref"] == f"{REGISTRY}/app:1-arm64"
    assert body["Descriptor"] == {
        "mediaType": DOCKER_MANIFEST,
        "digest": ARM64.descriptor.digest,
        "size": len(ARM64.raw),
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
    }
    assert list(body["Descriptor"]) == ["mediaType", "digest", "size", "platform"]
    assert base64.b64decode(body["Raw"]) == ARM64.raw
    assert body["SchemaV2Manifest"] == json.loads(ARM64.raw)
    assert body["manifestorList"] == str(LIST)
    assert body["manifestorOrder"] == 0


def test_entry_bytes_match_what_docker_writes(store: ManifestStore) -> None:
    raw = base64.b64decode(DOCKER_RAW_B64)
    entry = StoredEntry(
        "127.0.0.1:59609/app:1-arm64",
        parse_manifest(raw).descriptor(Platform("linux", "arm64", "v8")),
        raw,
    )
    store.save(DOCKER_LIST, [entry], replace=False)

    written = (store.root / "127.0.0.1-59609_app-v1" / DOCKER_ENTRY_NAME).read_bytes()
    ours = b',"manifestorList":"127.0.0.1:59609/app:v1","manifestorOrder":0}'
    assert written == DOCKER_ENTRY[:-1] + ours


def test_oci_entry_embeds_ocimanifest_and_annotations_in_go_order(store: ManifestStore) -> None:
    entry = make_entry(
        f"{REGISTRY}/app:1-ppc",
        "ppc64le",
        media_type=OCI_MANIFEST,
        annotations={"z": "last", "a": "<b>&"},
    )
    store.save(LIST, [entry], replace=False)
    content = (store.root / LIST_DIR / "127.0.0.1-5056_app-1-ppc").read_bytes()

    body = json.loads(content)
    assert "OCIManifest" in body and "SchemaV2Manifest" not in body
    assert list(body["Descriptor"]) == ["mediaType", "digest", "size", "annotations", "platform"]
    assert list(body["Descriptor"]["annotations"]) == ["a", "z"]
    # Go's json.Marshal escapes <, > and & inside strings.
    assert b'"a":"\\u003cb\\u003e\\u0026"' in content
    assert store.get(LIST).entries[0].descriptor.annotations == {"a": "<b>&", "z": "last"}


# --- round trips and order --------------------------------------------------------------


def test_save_then_get_keeps_the_users_order_and_exact_bytes(store: ManifestStore) -> None:
    store.save(LIST, [ARMV7, ARM64, AMD64], replace=False)

    stored = store.get(LIST)
    assert [e.ref for e in stored.entries] == [ARMV7.ref, ARM64.ref, AMD64.ref]
    assert [e.order for e in stored.entries] == [0, 1, 2]
    assert [e.raw for e in stored.entries] == [ARMV7.raw, ARM64.raw, AMD64.raw]
    assert [e.descriptor for e in stored.entries] == [
        ARMV7.descriptor,
        ARM64.descriptor,
        AMD64.descriptor,
    ]
    assert stored.name == str(LIST)
    assert stored.made_by_docker is False
    # docker would have sorted them by file name instead.
    assert sorted(os.listdir(store.root / LIST_DIR)) == [
        "127.0.0.1-5056_app-1-amd64",
        "127.0.0.1-5056_app-1-arm64",
        "127.0.0.1-5056_app-1-armv7",
    ]


def test_get_entry_reads_one_image(store: ManifestStore) -> None:
    store.save(LIST, [ARMV7, AMD64], replace=False)

    assert store.get_entry(LIST, ref(AMD64.ref)).raw == AMD64.raw
    with pytest.raises(EntryNotFoundError, match="does not exist in"):
        store.get_entry(LIST, ref(f"{REGISTRY}/app:nope"))
    with pytest.raises(ListNotFoundError):
        store.get_entry(ref(f"{REGISTRY}/other:v1"), ref(AMD64.ref))


def test_missing_list_is_not_found(store: ManifestStore) -> None:
    assert store.exists(LIST) is False
    with pytest.raises(ListNotFoundError, match=f"^No such manifest list: {LIST}$"):
        store.get(LIST)
    with pytest.raises(ListNotFoundError):
        store.remove(LIST)


def test_empty_list_directory_exists_with_no_entries(store: ManifestStore) -> None:
    (store.root / LIST_DIR).mkdir(parents=True)

    assert store.exists(LIST) is True
    assert store.get(LIST).entries == ()
    with pytest.raises(ListExistsError):
        store.save(LIST, [AMD64], replace=False)


def test_save_without_replace_refuses_an_existing_list(store: ManifestStore) -> None:
    store.save(LIST, [AMD64], replace=False)
    before = snapshot(store.root / LIST_DIR)

    with pytest.raises(ListExistsError, match="refusing to amend .* with no --amend flag"):
        store.save(LIST, [ARM64], replace=False)
    assert snapshot(store.root / LIST_DIR) == before


def test_save_with_replace_swaps_the_whole_list(store: ManifestStore) -> None:
    store.save(LIST, [AMD64, ARM64], replace=False)
    store.save(LIST, [ARMV7, AMD64], replace=True)

    assert [e.ref for e in store.get(LIST).entries] == [ARMV7.ref, AMD64.ref]
    assert sorted(os.listdir(store.root / LIST_DIR)) == [
        "127.0.0.1-5056_app-1-amd64",
        "127.0.0.1-5056_app-1-armv7",
    ]
    assert os.listdir(store.root / TMP_DIR) == []


def test_update_entry_rewrites_one_file_and_keeps_its_position(store: ManifestStore) -> None:
    store.save(LIST, [ARMV7, ARM64, AMD64], replace=False)
    annotated = make_entry(ARMV7.ref, "arm", "v7", annotations={"note": "x"})

    store.update_entry(LIST, annotated)

    entries = store.get(LIST).entries
    assert [e.ref for e in entries] == [ARMV7.ref, ARM64.ref, AMD64.ref]
    assert entries[0].descriptor.annotations == {"note": "x"}
    assert os.listdir(store.root / TMP_DIR) == []
    with pytest.raises(EntryNotFoundError):
        store.update_entry(LIST, make_entry(f"{REGISTRY}/app:nope", "amd64"))


# --- docker-written files ---------------------------------------------------------------


def write_docker_file(store: ManifestStore, list_dir: str, name: str, content: bytes) -> None:
    directory = store.root / list_dir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)


def test_reads_an_entry_docker_wrote(store: ManifestStore) -> None:
    write_docker_file(store, "127.0.0.1-59609_app-v1", DOCKER_ENTRY_NAME, DOCKER_ENTRY)

    stored = store.get(DOCKER_LIST)
    assert stored.made_by_docker is True
    assert stored.name == str(DOCKER_LIST)
    (entry,) = stored.entries
    assert entry.ref == "127.0.0.1:59609/app:1-arm64"
    assert entry.raw == base64.b64decode(DOCKER_RAW_B64)
    assert entry.order is None
    assert entry.descriptor.digest == DOCKER_DIGEST == sha256_digest(entry.raw)
    assert entry.descriptor.size == 523
    assert entry.descriptor.platform == Platform("linux", "arm64", "v8")


def test_a_list_docker_rewrote_follows_dockers_file_name_order(store: ManifestStore) -> None:
    store.save(LIST, [ARMV7, ARM64, AMD64], replace=False)
    # docker's own `annotate` rewrites an entry without manifestor's keys.
    path = store.root / LIST_DIR / "127.0.0.1-5056_app-1-armv7"
    body = json.loads(path.read_bytes())
    del body["manifestorList"], body["manifestorOrder"]
    path.write_text(json.dumps(body, separators=(",", ":")))

    # Both tools then push the same bytes: docker orders entries by file name.
    stored = store.get(LIST)
    assert [e.ref for e in stored.entries] == [AMD64.ref, ARM64.ref, ARMV7.ref]
    assert stored.entries[2].order is None
    assert stored.made_by_docker is False


def test_entries_without_order_follow_file_name_order(store: ManifestStore) -> None:
    for entry in (ARMV7, AMD64, ARM64):
        body = {
            "Ref": entry.ref,
            "Descriptor": entry.descriptor.to_json(),
            "Raw": base64.b64encode(entry.raw).decode(),
        }
        write_docker_file(store, LIST_DIR, docker_store_name(entry.ref), json.dumps(body).encode())

    assert [e.ref for e in store.get(LIST).entries] == [AMD64.ref, ARM64.ref, ARMV7.ref]


def test_reads_legacy_entries_and_checks_their_digest(store: ManifestStore) -> None:
    compact = manifest_bytes("arm", indent=None)
    pretty = manifest_bytes("s390x")
    for name, payload, digest in (
        ("127.0.0.1-5056_app-1-arm", compact, sha256_digest(compact)),
        # Old docker embedded a compacted copy of pretty bytes: it no longer hashes to Digest.
        ("127.0.0.1-5056_app-1-s390x", compact.replace(b"arm", b"s390x"), sha256_digest(pretty)),
    ):
        arch = "arm" if name.endswith("arm") else "s390x"
        legacy = (
            (
                f'{{"Ref":"{REGISTRY}/app:1-{arch}","Digest":"{digest}",'
                f'"Platform":{{"architecture":"{arch}","os":"linux"}},"SchemaV2Manifest":'
            ).encode()
            + payload
            + b"}"
        )
        write_docker_file(store, LIST_DIR, name, legacy)

    arm, s390x = store.get(LIST).entries
    assert arm.raw == compact
    assert arm.descriptor.digest == sha256_digest(compact)
    assert arm.descriptor.size == len(compact)
    assert arm.descriptor.media_type == DOCKER_MANIFEST
    assert arm.descriptor.platform == Platform("linux", "arm")
    # The caller re-fetches it by digest.
    assert s390x.raw is None
    assert s390x.descriptor.digest == sha256_digest(pretty)


def test_entry_without_raw_recovers_bytes_only_when_they_hash(store: ManifestStore) -> None:
    pretty = manifest_bytes("amd64")
    compact = manifest_bytes("arm64", indent=None)
    for tag, raw in (("pretty", pretty), ("compact", compact)):
        descriptor = parse_manifest(raw).descriptor(Platform("linux", "amd64"))
        # docker before 2023: a Descriptor, no Raw, and a compacted copy of the manifest.
        body = (
            (
                f'{{"Ref":"{REGISTRY}/app:{tag}","Descriptor":{json.dumps(descriptor.to_json())},'
                '"SchemaV2Manifest":'
            ).encode()
            + json.dumps(json.loads(raw), separators=(",", ":")).encode()
            + b"}"
        )
        write_docker_file(store, LIST_DIR, f"127.0.0.1-5056_app-{tag}", body)

    compact_entry, pretty_entry = store.get(LIST).entries
    assert compact_entry.raw == compact
    assert pretty_entry.raw is None
    assert pretty_entry.descriptor.digest == sha256_digest(pretty)


# --- names that collide in docker's encoding --------------------------------------------


def test_names_that_encode_alike_are_refused(store: ManifestStore) -> None:
    first = ref(f"{REGISTRY}/app:1-x")
    second = ref(f"{REGISTRY}/app-1:x")
    store.save(first, [AMD64], replace=False)
    before = snapshot(store.root / "127.0.0.1-5056_app-1-x")

    for attempt in (
        lambda: store.exists(second),
        lambda: store.get(second),
        lambda: store.save(second, [ARM64], replace=True),
        lambda: store.save(second, [ARM64], replace=False),
        lambda: store.remove(second),
        lambda: store.get_entry(second, ref(AMD64.ref)),
    ):
        with pytest.raises(StoreError, match="collide in docker's store"):
            attempt()
    assert snapshot(store.root / "127.0.0.1-5056_app-1-x") == before
    assert store.get(first).entries[0].ref == AMD64.ref


def test_entries_whose_names_encode_alike_are_refused(store: ManifestStore) -> None:
    one = make_entry(f"{REGISTRY}/a_b/c:1", "amd64")
    other = make_entry(f"{REGISTRY}/a/b_c:1", "arm64")
    with pytest.raises(StoreError, match="collide"):
        store.save(LIST, [one, other], replace=False)
    with pytest.raises(StoreError, match="given twice"):
        store.save(LIST, [one, one], replace=False)
    assert not store.exists(LIST)


def test_unsafe_or_overlong_names_are_refused() -> None:
    for bad in ("..", ".hidden", "a\\b", "a\0b"):
        with pytest.raises(StoreError):
            docker_store_name(bad)
    with pytest.raises(StoreError, match="too long"):
        docker_store_name(f"{REGISTRY}/{'a' * 250}:v1")


# --- corruption and failed saves --------------------------------------------------------


def test_corrupt_entry_blocks_get_but_not_remove_or_ls(store: ManifestStore) -> None:
    store.save(LIST, [AMD64, ARM64], replace=False)
    bad = store.root / LIST_DIR / "127.0.0.1-5056_app-1-arm64"
    bad.write_bytes(b"garbage")

    with pytest.raises(CorruptListError) as caught:
        store.get(LIST)
    message = str(caught.value)
    assert str(bad) in message and "not valid JSON" in message and "\n" not in message
    assert store.exists(LIST)

    (summary,) = store.summaries()
    assert summary.name == str(LIST)
    assert summary.entries == 2
    assert summary.corrupt is not None and summary.corrupt.startswith(bad.name)

    store.remove(LIST)
    assert not store.exists(LIST)
    assert store.summaries() == []


def test_raw_that_does_not_match_its_digest_is_corrupt(store: ManifestStore) -> None:
    body = json.loads(DOCKER_ENTRY)
    body["Raw"] = base64.b64encode(b"{}").decode()
    write_docker_file(store, "127.0.0.1-59609_app-v1", DOCKER_ENTRY_NAME, json.dumps(body).encode())

    with pytest.raises(CorruptListError, match="does not hash to the descriptor digest"):
        store.get(DOCKER_LIST)


def test_unserialisable_entry_leaves_the_previous_list_untouched(store: ManifestStore) -> None:
    store.save(LIST, [AMD64, ARM64], replace=False)
    before = snapshot(store.root / LIST_DIR)
    tampered = StoredEntry(f"{REGISTRY}/app:bad", ARMV7.descriptor, ARMV7.raw + b" ")
    lacking = StoredEntry(ARMV7.ref, ARMV7.descriptor, None)

    with pytest.raises(StoreError, match="do not match"):
        store.save(LIST, [ARMV7, AMD64, tampered], replace=True)
    with pytest.raises(StoreError, match="manifest bytes are unknown"):
        store.save(LIST, [lacking], replace=True)
    assert snapshot(store.root / LIST_DIR) == before


def test_failed_rename_leaves_the_previous_list_and_no_leftovers(
    store: ManifestStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(LIST, [AMD64, ARM64], replace=False)
    before = snapshot(store.root / LIST_DIR)
    real_rename = os.rename
    # The two-rename fallback, as on a system without renameat2(RENAME_EXCHANGE).
    monkeypatch.setattr(store_module, "_renameat2", None)

    def failing_rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).name.startswith("save-"):
            raise OSError(28, "No space left on device", str(dst))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(StoreError, match="No space left on device"):
        store.save(LIST, [ARMV7], replace=True)

    assert snapshot(store.root / LIST_DIR) == before
    assert os.listdir(store.root / TMP_DIR) == []
    assert sorted(os.listdir(store.root)) == sorted([LIST_DIR, TMP_DIR])


def test_summaries_list_every_list_by_name_and_skip_private_dirs(store: ManifestStore) -> None:
    store.save(ref(f"{REGISTRY}/zeta:v1"), [AMD64], replace=False)
    store.save(LIST, [AMD64, ARM64], replace=False)
    write_docker_file(store, "127.0.0.1-59609_app-v1", DOCKER_ENTRY_NAME, DOCKER_ENTRY)
    with store.locked(LIST):
        pass

    assert [(s.name, s.entries, s.corrupt) for s in store.summaries()] == [
        (str(LIST), 2, None),
        (f"{REGISTRY}/zeta:v1", 1, None),
        ("127.0.0.1:59609/app:v1", 1, None),  # docker-made: decoded from its directory
    ]
    assert (store.root / LOCK_DIR).is_dir()


# --- concurrency ------------------------------------------------------------------------


def test_locked_read_modify_writes_from_threads_lose_no_entry(store: ManifestStore) -> None:
    def add_entries(worker: int) -> None:
        for i in range(15):
            entry = make_entry(f"{REGISTRY}/app:w{worker}-{i}", "amd64")
            with store.locked(LIST):
                current = store.get(LIST).entries if store.exists(LIST) else ()
                store.save(LIST, [*current, entry], replace=True)

    threads = [threading.Thread(target=add_entries, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    refs = [e.ref for e in store.get(LIST).entries]
    assert len(refs) == 45
    for worker in range(3):
        mine = [r for r in refs if f":w{worker}-" in r]
        assert mine == [f"{REGISTRY}/app:w{worker}-{i}" for i in range(15)]


# --- the docker CLI reads and removes what we write --------------------------------------

needs_docker = pytest.mark.usefixtures("docker_cli")


@pytest.fixture
def docker_cli() -> str:
    return require_tool("docker", "these tests check that docker reads the lists we store")


def docker(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_HOST", None)
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.integration  # the docker CLI as a subprocess
@needs_docker
def test_docker_inspects_annotates_and_removes_a_list_we_saved(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path)
    oci = make_entry(f"{REGISTRY}/app:1-ppc", "ppc64le", media_type=OCI_MANIFEST)
    store.save(LIST, [ARMV7, ARM64, oci], replace=False)

    shown = docker(tmp_path, "manifest", "inspect", str(LIST))
    assert shown.returncode == 0, shown.stderr
    manifests = json.loads(shown.stdout)["manifests"]
    # docker lists them in file-name order; the content is ours.
    assert [(m["digest"], m["size"], m["platform"]) for m in manifests] == [
        (e.descriptor.digest, e.descriptor.size, e.descriptor.platform.to_json())
        for e in (ARM64, ARMV7, oci)
    ]
    one = docker(tmp_path, "manifest", "inspect", str(LIST), ARMV7.ref)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout) == json.loads(ARMV7.raw)

    annotated = docker(
        tmp_path, "manifest", "annotate", str(LIST), ARMV7.ref, "--os-version", "10.0"
    )
    assert annotated.returncode == 0, annotated.stderr
    entries = store.get(LIST).entries
    # docker rewrote an entry: the list now follows docker's file-name order too
    assert [e.ref for e in entries] == [ARM64.ref, ARMV7.ref, oci.ref]
    assert entries[1].descriptor.platform == Platform("linux", "arm", "v7", os_version="10.0")
    assert entries[1].raw == ARMV7.raw

    removed = docker(tmp_path, "manifest", "rm", str(LIST))
    assert removed.returncode == 0, removed.stderr
    assert not store.exists(LIST)


@pytest.mark.integration  # the docker CLI as a subprocess
@needs_docker
def test_docker_cannot_remove_a_corrupt_list_but_we_can(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path)
    store.save(LIST, [AMD64], replace=False)
    (store.root / LIST_DIR / "127.0.0.1-5056_app-1-amd64").write_bytes(b"garbage")

    assert docker(tmp_path, "manifest", "rm", str(LIST)).returncode != 0
    store.remove(LIST)
    assert not store.exists(LIST)
