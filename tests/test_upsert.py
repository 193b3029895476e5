"""`manifestor push --upsert`: replace the entry of one platform in the list a tag already
holds, keep every other entry where it is, append new platforms, create the list when the
tag is missing, refuse to merge into a single image; concurrent per-arch jobs updating
one tag both survive (compare-and-swap with retries). `merge_by_platform` is also tested
on its own, without a registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from clihelpers import (
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
)
from oneshothelpers import assert_served_list, image_entry, writes
from rig.images import (
    DOCKER_LIST,
    OCI_INDEX,
    PushedImage,
    make_image,
    push_image,
    push_index,
)

from manifestor.model.entries import ATTESTATION_SUBJECT_KEY, ATTESTATION_TYPE_KEY, ListEntry
from manifestor.model.oci import parse_manifest
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_reference
from manifestor.ops.upsert import merge_by_platform

# -- merge_by_platform, a pure function -------------------------------------------------------


def entry(
    os: str,
    arch: str,
    variant: str | None = None,
    *,
    build: str = "1",
    os_version: str | None = None,
) -> ListEntry:
    """An image entry; `build` changes its bytes (a rebuild of the same platform)."""
    image = make_image(
        os, arch, variant, os_version=os_version, layer_text=f"{os}/{arch}/{variant} {build}"
    )
    manifest = parse_manifest(image.manifest.data, image.media_type)
    return ListEntry(
        parse_reference(f"registry.example/app@{image.digest}"),
        manifest,
        Platform(os, arch, variant, os_version),
    )


def attestation(subject: ListEntry) -> ListEntry:
    """A buildx-style attestation entry for `subject`."""
    image = make_image("linux", "amd64", media="oci", layer_text=f"att {subject.manifest.digest}")
    manifest = parse_manifest(image.manifest.data, image.media_type)
    return ListEntry(
        parse_reference(f"registry.example/app@{image.digest}"),
        manifest,
        Platform("unknown", "unknown"),
        {
            ATTESTATION_TYPE_KEY: "attestation-manifest",
            ATTESTATION_SUBJECT_KEY: subject.manifest.digest,
        },
    )


def digests(entries: list[ListEntry]) -> list[str]:
    return [e.manifest.digest for e in entries]


def test_merge_replaces_the_entry_of_the_same_platform_in_place():
    amd64, arm64, armv7 = (
        entry("linux", "amd64"),
        entry("linux", "arm64", "v8"),
        entry("linux", "arm", "v7"),
    )
    rebuilt = entry("linux", "arm64", "v8", build="2")

    merged = merge_by_platform([amd64, arm64, armv7], [rebuilt])

    assert digests(merged) == digests([amd64, rebuilt, armv7])


@pytest.mark.parametrize(
    ("current", "fresh"),
    [(("arm64", "v8"), ("arm64", None)), (("arm64", None), ("arm64", "v8"))],
    ids=["arm64-replaces-arm64/v8", "arm64/v8-replaces-arm64"],
)
def test_merge_treats_arm64_and_arm64_v8_as_one_platform(current, fresh):
    amd64, old = entry("linux", "amd64"), entry("linux", *current)
    new = entry("linux", *fresh, build="2")

    assert digests(merge_by_platform([amd64, old], [new])) == digests([amd64, new])


def test_merge_appends_a_platform_the_list_lacks():
    amd64, arm64 = entry("linux", "amd64"), entry("linux", "arm64", "v8")
    s390x = entry("linux", "s390x")

    assert digests(merge_by_platform([amd64, arm64], [s390x])) == digests([amd64, arm64, s390x])


def test_merge_keeps_arm_variants_and_windows_versions_apart():
    armv6, armv7 = entry("linux", "arm", "v6"), entry("linux", "arm", "v7")
    ltsc2019 = entry("windows", "amd64", os_version="10.0.17763.1234")
    ltsc2022 = entry("windows", "amd64", os_version="10.0.20348.1000")

    merged = merge_by_platform([armv6, ltsc2019], [armv7, ltsc2022])

    assert digests(merged) == digests([armv6, ltsc2019, armv7, ltsc2022])


def test_merge_drops_the_attestation_of_a_replaced_image_and_keeps_the_others():
    amd64, arm64 = entry("linux", "amd64"), entry("linux", "arm64", "v8")
    amd64_att, arm64_att = attestation(amd64), attestation(arm64)
    rebuilt = entry("linux", "arm64", "v8", build="2")

    merged = merge_by_platform([amd64, arm64, amd64_att, arm64_att], [rebuilt])

    assert digests(merged) == digests([amd64, rebuilt, amd64_att])


def test_merge_adds_the_fresh_attestations_after_the_images():
    amd64, arm64 = entry("linux", "amd64"), entry("linux", "arm64", "v8")
    amd64_att, arm64_att = attestation(amd64), attestation(arm64)
    rebuilt = entry("linux", "arm64", "v8", build="2")
    rebuilt_att = attestation(rebuilt)

    merged = merge_by_platform([amd64, arm64, amd64_att, arm64_att], [rebuilt, rebuilt_att])

    assert digests(merged) == digests([amd64, rebuilt, amd64_att, rebuilt_att])


def test_merge_of_the_same_image_again_changes_nothing():
    amd64, arm64 = entry("linux", "amd64"), entry("linux", "arm64", "v8")
    current = [amd64, arm64, attestation(amd64), attestation(arm64)]

    assert digests(merge_by_platform(current, [entry("linux", "arm64", "v8")])) == digests(current)


def test_merge_collapses_duplicate_entries_of_the_replaced_platform():
    amd64 = entry("linux", "amd64")
    twins = [entry("linux", "arm64", None, build="a"), entry("linux", "arm64", "v8", build="b")]
    new = entry("linux", "arm64", "v8", build="c")

    assert digests(merge_by_platform([amd64, *twins], [new])) == digests([amd64, new])


def test_merge_into_nothing_is_the_fresh_entries():
    fresh = [entry("linux", "amd64"), entry("linux", "arm64", "v8")]

    assert digests(merge_by_platform([], fresh)) == digests(fresh)


# -- against a real registry ------------------------------------------------------------------


def served_entries(rig, repo: str, tag: str) -> list[dict[str, Any]]:
    response = rig.get_manifest(repo, tag)
    assert response.status_code == 200, f"{repo}:{tag} -> {response.status_code}"
    return response.json()["manifests"]


def push_new(registry, repo: str, tag: str, os: str, arch: str, variant=None) -> PushedImage:
    """A rebuilt image for a platform, pushed as `repo:tag`."""
    image = make_image(os, arch, variant, layer_text=f"rebuilt {os}/{arch}/{variant} {tag}")
    return push_image(registry, repo, tag, image)


def platforms_of(entries: list[Mapping[str, Any]]) -> set[str]:
    """`os/arch[/variant]` of each entry."""
    keys = ("os", "architecture", "variant")
    return {"/".join(e["platform"][k] for k in keys if e["platform"].get(k)) for e in entries}


@pytest.mark.integration
def test_upsert_replaces_only_the_entry_of_its_platform(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    push_index(registry_plain, repo, "1.0", list(images.values()), "docker", attestation=False)
    rig = rig_client(registry_plain)
    before = served_entries(rig, repo, "1.0")
    new_arm64 = push_new(registry_plain, repo, "arm64-new", "linux", "arm64", "v8")

    result = cli.ok("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "arm64-new"))

    after = served_entries(rig, repo, "1.0")
    assert after == [before[0], image_entry(new_arm64), before[2]]
    assert after[0]["digest"] == images["amd64"].digest
    assert_served_list(
        rig,
        repo,
        "1.0",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=after,
    )
    assert_pullable(ref(host, repo, "1.0"), tmp_path)


@pytest.mark.integration
def test_upsert_of_a_plain_arm64_image_replaces_the_arm64_v8_entry(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "1.0", list(images.values()), "docker", attestation=False)
    new_arm64 = push_new(registry_plain, repo, "arm64-plain", "linux", "arm64")  # no variant
    assert "variant" not in new_arm64.platform

    cli.ok("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "arm64-plain"))

    assert served_entries(rig_client(registry_plain), repo, "1.0") == [
        image_entry(images["amd64"]),
        image_entry(new_arm64),
    ]


@pytest.mark.integration
def test_upsert_appends_a_new_platform(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "1.0", list(images.values()), "docker", attestation=False)
    s390x = push_new(registry_plain, repo, "s390x", "linux", "s390x")

    cli.ok("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "s390x"))

    assert served_entries(rig_client(registry_plain), repo, "1.0") == [
        image_entry(images["amd64"]),
        image_entry(images["arm64"]),
        image_entry(s390x),
    ]


@pytest.mark.integration
def test_upsert_onto_a_missing_tag_creates_the_list(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("arm64",))

    result = cli.ok("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "arm64"))

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.0",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["arm64"])],
    )


@pytest.mark.integration
def test_upsert_onto_a_tag_holding_a_single_image_fails_and_leaves_it(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_image(registry_plain, repo, "1.0", images["amd64"].image)

    result = cli.run("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "arm64"))

    assert_one_line_error(result, 1, "single image", "1.0")
    served = rig_client(registry_plain).get_manifest(repo, "1.0")
    assert served.headers["Docker-Content-Digest"] == images["amd64"].digest


@pytest.mark.integration
def test_upsert_into_a_buildx_index_drops_only_the_replaced_images_attestation(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "1.0", [images["amd64"], images["arm64"]])
    amd64, _arm64, amd64_att, _arm64_att = index.manifest["manifests"]
    new_arm64 = push_new(registry_plain, repo, "arm64-new", "linux", "arm64", "v8")

    cli.ok("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "arm64-new"))

    assert served_entries(rig_client(registry_plain), repo, "1.0") == [
        amd64,
        image_entry(new_arm64),
        amd64_att,
    ]


@pytest.mark.integration
def test_upsert_keeps_the_index_annotations_of_the_list(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(
        registry_plain,
        repo,
        "1.0",
        [images["amd64"], images["arm64"]],
        attestation=False,
        annotations={"org.opencontainers.image.source": "https://example.com/app"},
    )
    new_arm64 = push_new(registry_plain, repo, "arm64-new", "linux", "arm64", "v8")

    result = cli.ok("push", "--upsert", ref(host, repo, "1.0"), ref(host, repo, "arm64-new"))

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.0",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[index.manifest["manifests"][0], image_entry(new_arm64)],
        annotations={"org.opencontainers.image.source": "https://example.com/app"},
    )


@pytest.mark.integration
def test_repeating_an_upsert_writes_nothing(cli, registry_plain, repo, fault_proxy):
    proxy = fault_proxy(registry_plain)
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "1.0", [images["amd64"]], "docker", attestation=False)
    args = ("push", "--upsert", ref(proxy.host, repo, "1.0"), ref(proxy.host, repo, "arm64"))
    digest = last_line_digest(cli.ok(*args))
    proxy.reset()

    again = cli.ok(*args)

    assert again.stdout_lines[-1] == digest
    assert "unchanged" in again.stderr
    assert writes(proxy) == []


@pytest.mark.integration
def test_concurrent_upserts_of_different_platforms_both_survive(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    rig = rig_client(registry_plain)
    retried = 0
    for round_ in range(3):
        tag = f"round-{round_}"
        push_index(registry_plain, repo, tag, [images["amd64"]], "docker", attestation=False)

        # Both start at once: each reads the one-entry list, merges and writes.
        arm64_job, armv7_job = cli.run_many(
            ("push", "--upsert", ref(host, repo, tag), ref(host, repo, "arm64")),
            ("push", "--upsert", ref(host, repo, tag), ref(host, repo, "armv7")),
        )

        for job in (arm64_job, armv7_job):
            assert job.returncode == 0, str(job)
            retried += "merging again" in job.stderr
        entries = served_entries(rig, repo, tag)
        assert platforms_of(entries) == {"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}, (
            f"round {round_}: {entries}\n{arm64_job}\n{armv7_job}"
        )
        assert entries[0] == image_entry(images["amd64"])
        assert {e["digest"] for e in entries} == {i.digest for i in images.values()}
    print(f"{retried} of 6 upserts had to merge again")
