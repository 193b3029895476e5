"""`manifestor create`, `annotate`, `rm` and `ls` end to end: the real CLI as a subprocess
against a real registry, checked through `inspect`, the store directory and the registry."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from clihelpers import (
    Cli,
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
)
from rig.images import DOCKER_LIST, OCI_INDEX, make_image, push_image, push_index

pytestmark = pytest.mark.integration


def _inspect(cli: Cli, list_name: str) -> dict[str, Any]:
    return cli.ok("inspect", list_name).json()


def _platforms(listing: dict[str, Any]) -> list[str]:
    out = []
    for entry in listing["manifests"]:
        p = entry["platform"]
        out.append("/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x))
    return out


def _digests(listing: dict[str, Any]) -> list[str]:
    return [entry["digest"] for entry in listing["manifests"]]


def _entry(listing: dict[str, Any], digest: str) -> dict[str, Any]:
    [entry] = [e for e in listing["manifests"] if e["digest"] == digest]
    return entry


# -- create ------------------------------------------------------------------------------


def test_create_keeps_the_order_the_sources_were_given(cli, registry_plain, repo):
    host = registry_plain.host
    order = ("armv7", "arm64", "amd64")  # docker would sort these: amd64, arm64, arm
    images = push_arches(registry_plain, repo, order)

    created = cli.ok("create", f"{host}/{repo}", *(ref(host, repo, n) for n in order))

    assert created.stdout == f"Created manifest list {host}/{repo}:latest\n"
    listing = _inspect(cli, f"{host}/{repo}")
    assert listing["mediaType"] == DOCKER_LIST
    assert _digests(listing) == [images[n].digest for n in order]
    assert _platforms(listing) == ["linux/arm/v7", "linux/arm64/v8", "linux/amd64"]


def test_create_refuses_an_existing_list_without_amend(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))
    before = cli.snapshot()

    result = cli.run("create", list_name, ref(host, repo, "arm64"))

    assert_one_line_error(result, 1, "refusing", "--amend", list_name)
    assert cli.snapshot() == before


def test_failed_create_stores_nothing(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    missing = ref(host, repo, "never-pushed")

    result = cli.run("create", ref(host, repo, "1"), ref(host, repo, "amd64"), missing)

    assert_one_line_error(result, 1, missing)
    assert cli.list_dirs() == []
    assert cli.snapshot() == {}
    listed = cli.ok("ls")
    assert listed.stdout == ""
    assert "no local manifest lists" in listed.stderr


def test_failed_amend_leaves_the_list_as_it_was(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))
    before = cli.snapshot()

    result = cli.run(
        "create", "--amend", list_name, ref(host, repo, "arm64"), ref(host, repo, "missing")
    )

    assert_one_line_error(result, 1, ref(host, repo, "missing"))
    assert cli.snapshot() == before


def test_amend_adds_new_sources_after_the_existing_entries(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "armv7"))

    cli.ok("create", "-a", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))

    listing = _inspect(cli, list_name)
    assert _digests(listing) == [images[n].digest for n in ("armv7", "amd64", "arm64")]


def test_amend_refetches_a_source_given_again(cli, registry_plain, repo, rig_client, tmp_path):
    host = registry_plain.host
    old = push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    amd64, arm64 = ref(host, repo, "amd64"), ref(host, repo, "arm64")
    cli.ok("create", list_name, amd64, arm64)
    cli.ok("annotate", list_name, arm64, "--annotation", "org.example.kept=yes")
    # The amd64 job rebuilt its image and pushed it to the same tag.
    new = push_arches(registry_plain, repo, ("amd64",), layer_text="rebuilt amd64\n")["amd64"]
    assert new.digest != old["amd64"].digest

    amended = cli.ok("create", "--amend", list_name, amd64, arm64)

    assert "refreshed" in amended.stderr and amd64 in amended.stderr
    listing = _inspect(cli, list_name)
    assert _digests(listing) == [new.digest, old["arm64"].digest]
    # An unchanged image keeps its entry, annotations included.
    assert _entry(listing, old["arm64"].digest)["annotations"] == {"org.example.kept": "yes"}

    digest = last_line_digest(cli.ok("push", list_name))
    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert served.headers["Docker-Content-Digest"] == digest
    assert [m["digest"] for m in served.json()["manifests"]] == [new.digest, old["arm64"].digest]
    assert_pullable(list_name, tmp_path)


def test_source_list_contributes_its_images_with_their_descriptor_platforms(
    cli, registry_plain, repo, tmp_path
):
    host = registry_plain.host
    amd64 = push_image(registry_plain, repo, "amd64", make_image("linux", "amd64"))
    # The arm64 config has no variant (common); the index descriptor says v8.
    arm64 = push_image(registry_plain, repo, "arm64", make_image("linux", "arm64"))
    described = dataclasses.replace(
        arm64, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}
    )
    index = push_index(registry_plain, repo, "buildx", [amd64, described])
    assert len(index.attestation_digests) == 2
    list_name = ref(host, repo, "1")

    cli.ok("create", list_name, ref(host, repo, "buildx"))

    listing = _inspect(cli, list_name)
    assert _digests(listing) == [amd64.digest, arm64.digest]  # attestations dropped
    assert _platforms(listing) == ["linux/amd64", "linux/arm64/v8"]
    assert listing["mediaType"] == DOCKER_LIST
    verbose = cli.ok("inspect", "--verbose", list_name).json()
    assert [e["Ref"] for e in verbose] == [
        f"{host}/{repo}:buildx@{amd64.digest}",
        f"{host}/{repo}:buildx@{arm64.digest}",
    ]
    last_line_digest(cli.ok("push", list_name))
    assert _digests(assert_pullable(list_name, tmp_path)) == [amd64.digest, arm64.digest]


def test_keep_attestations_keeps_the_unknown_entries_of_a_source_list(
    cli, registry_plain, repo, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "buildx", list(images.values()))
    list_name = ref(host, repo, "1")

    cli.ok("create", "--keep-attestations", list_name, ref(host, repo, "buildx"))

    listing = _inspect(cli, list_name)
    assert _digests(listing) == [
        images["amd64"].digest,
        images["arm64"].digest,
        *index.attestation_digests,
    ]
    assert _platforms(listing)[2:] == ["unknown/unknown", "unknown/unknown"]
    for digest, image in zip(index.attestation_digests, images.values(), strict=True):
        assert _entry(listing, digest)["annotations"] == {
            "vnd.docker.reference.digest": image.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        }
    assert listing["mediaType"] == OCI_INDEX  # annotations need an OCI index
    last_line_digest(cli.ok("push", list_name))
    assert len(assert_pullable(list_name, tmp_path)["manifests"]) == 4


def test_platform_selects_children_of_a_source_list(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    push_index(registry_plain, repo, "buildx", list(images.values()))
    source = ref(host, repo, "buildx")

    a, b, c = (ref(host, repo, name) for name in "abc")

    cli.ok_many(
        ["create", a, source, "--platform", "linux/arm64"],
        ["create", b, source, "--platform", "linux/arm/v7,linux/amd64"],
        ["create", c, source, "--platform", "linux/arm64/v8", "--platform", "linux/amd64"],
    )

    listings = [r.json() for r in cli.ok_many(["inspect", a], ["inspect", b], ["inspect", c])]
    # linux/arm64 matches the arm64/v8 child; children keep the source list's order.
    assert [_platforms(listing) for listing in listings] == [
        ["linux/arm64/v8"],
        ["linux/amd64", "linux/arm/v7"],
        ["linux/amd64", "linux/arm64/v8"],
    ]


def test_platform_matching_no_child_is_an_error_and_stores_nothing(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64",))
    push_index(registry_plain, repo, "buildx", list(images.values()))

    result = cli.run(
        "create", ref(host, repo, "1"), ref(host, repo, "buildx"), "--platform", "linux/s390x"
    )

    assert_one_line_error(result, 2, ref(host, repo, "buildx"))
    assert cli.list_dirs() == []


# -- annotate ----------------------------------------------------------------------------


@pytest.fixture
def three_entry_list(cli, registry_plain, repo) -> tuple[str, dict[str, str]]:
    """A local list of amd64, arm64/v8 and arm/v7 images: (list name, source by arch)."""
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    sources = {n: ref(host, repo, n) for n in ("amd64", "arm64", "armv7")}
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, *sources.values())
    return list_name, sources


def test_annotate_normalises_architecture_spellings(cli, three_entry_list):
    list_name, src = three_entry_list

    cli.ok("annotate", list_name, src["amd64"], "--arch", "aarch64")
    cli.ok("annotate", list_name, src["arm64"], "--arch", "armv7l")  # implies variant v7
    cli.ok("annotate", list_name, src["armv7"], "--arch", "x86_64", "--unset", "variant")

    listing = _inspect(cli, list_name)
    assert _platforms(listing) == ["linux/arm64", "linux/arm/v7", "linux/amd64"]
    assert listing["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux"}


def test_annotate_accepts_platforms_beyond_dockers_table(cli, three_entry_list):
    list_name, src = three_entry_list

    cli.ok("annotate", list_name, src["amd64"], "--os", "linux", "--arch", "loong64")
    cli.ok(
        "annotate",
        list_name,
        src["arm64"],
        "--os",
        "windows",
        "--arch",
        "arm64",
        "--unset",
        "variant",
    )
    cli.ok("annotate", list_name, src["armv7"], "--arch", "riscv64", "--unset", "variant")

    assert _platforms(_inspect(cli, list_name)) == [
        "linux/loong64",
        "windows/arm64",
        "linux/riscv64",
    ]


@pytest.mark.parametrize(
    ("flags", "pair", "accepted"),
    [
        (("--os", "linux", "--arch", "sparc64"), "linux/sparc64", ("amd64", "arm64", "riscv64")),
        (("--os", "beos"), "beos/amd64", ("linux", "windows", "darwin")),
    ],
    ids=["unknown-arch", "unknown-os"],
)
def test_annotate_rejects_an_unknown_pair_naming_it_and_the_accepted_spellings(
    cli, three_entry_list, flags, pair, accepted
):
    list_name, src = three_entry_list
    before = cli.snapshot()

    result = cli.run("annotate", list_name, src["amd64"], *flags)

    assert_one_line_error(result, 2, pair, "accepted", *accepted)
    assert cli.snapshot() == before


def test_annotate_empty_values_change_nothing(cli, three_entry_list):
    list_name, src = three_entry_list
    before = cli.snapshot()

    cli.ok(
        "annotate",
        list_name,
        src["arm64"],
        "--os",
        "",
        "--arch",
        "",
        "--variant",
        "",
        "--os-version",
        "",
        "--os-features",
        "",
    )

    assert cli.snapshot() == before
    assert _platforms(_inspect(cli, list_name))[1] == "linux/arm64/v8"


def test_annotate_sets_os_version_features_and_annotations_and_unset_clears_them(
    cli, three_entry_list
):
    list_name, src = three_entry_list

    cli.ok(
        "annotate",
        list_name,
        src["amd64"],
        "--os",
        "windows",
        "--arch",
        "amd64",
        "--os-version",
        "10.0.17763.1234",
        "--os-features",
        "win32k",
        "--annotation",
        "org.example.note=hello",
        "--annotation",
        "org.example.expr=a=b",
    )
    cli.ok("annotate", list_name, src["amd64"], "--os-features", "extra")

    listing = _inspect(cli, list_name)
    amd64 = listing["manifests"][0]
    assert amd64["platform"] == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763.1234",
        "os.features": ["win32k", "extra"],
    }
    assert amd64["annotations"] == {"org.example.note": "hello", "org.example.expr": "a=b"}
    assert listing["mediaType"] == OCI_INDEX

    cli.ok(
        "annotate",
        list_name,
        src["amd64"],
        "--unset",
        "os.version",
        "--unset",
        "os.features",
        "--unset",
        "annotations",
    )
    cli.ok("annotate", list_name, src["arm64"], "--unset", "variant")

    listing = _inspect(cli, list_name)
    assert listing["manifests"][0]["platform"] == {"architecture": "amd64", "os": "windows"}
    assert "annotations" not in listing["manifests"][0]
    assert listing["manifests"][1]["platform"] == {"architecture": "arm64", "os": "linux"}
    assert listing["mediaType"] == DOCKER_LIST


def test_annotate_variant_alone_sets_it(cli, three_entry_list):
    list_name, src = three_entry_list

    cli.ok("annotate", list_name, src["armv7"], "--variant", "v6")

    assert _platforms(_inspect(cli, list_name))[2] == "linux/arm/v6"


# -- rm and ls ---------------------------------------------------------------------------


def _corrupt_one_entry(cli: Cli, list_dir: str) -> None:
    entry = sorted((cli.store_dir / list_dir).iterdir())[0]
    entry.write_bytes(b'{"Ref": "not json any more')


def test_ls_shows_each_list_with_its_entry_count_and_whether_it_is_readable(
    cli, registry_plain, repo
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    cli.ok("create", ref(host, repo, "two"), ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    cli.ok("create", ref(host, repo, "one"), ref(host, repo, "amd64"))
    # One entry of "two" is damaged; the other still tells the list's name.
    _corrupt_one_entry(cli, [d for d in cli.list_dirs() if d.endswith("-two")][0])

    listed = cli.ok("ls")

    header, *rows = listed.stdout_lines
    assert header.split() == ["NAME", "ENTRIES", "STATUS"]
    fields = {row.split()[0]: row.split(None, 2)[1:] for row in rows}
    assert list(fields) == [ref(host, repo, "one"), ref(host, repo, "two")]
    assert fields[ref(host, repo, "one")] == ["1", "ok"]
    count, status = fields[ref(host, repo, "two")]
    assert count == "2" and status.startswith("corrupt")


def test_rm_removes_several_lists_and_goes_on_past_a_missing_one(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    first, second = ref(host, repo, "first"), ref(host, repo, "second")
    cli.ok("create", first, ref(host, repo, "amd64"))
    cli.ok("create", second, ref(host, repo, "amd64"))
    missing = ref(host, repo, "missing")

    result = cli.run("rm", first, missing, second)

    assert_one_line_error(result, 1, missing)
    assert cli.list_dirs() == []


def test_rm_removes_a_corrupt_list(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))
    [list_dir] = cli.list_dirs()
    _corrupt_one_entry(cli, list_dir)

    removed = cli.ok("rm", list_name)

    assert removed.stdout == removed.stderr == ""
    assert cli.list_dirs() == []
    assert cli.snapshot() == {}
