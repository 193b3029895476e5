"""`manifestor verify REF`: a published list passes only when every child resolves in the
repository, each image's config says the platform its descriptor claims, the expected
platforms are all there and no attestation entries are present unless allowed. The
report is printed for people (or as JSON), and the exit status is 1 on any failure."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clihelpers import assert_one_line_error, push_arches, ref
from rig.images import DOCKER_LIST, Blob, PushedImage, push_index

pytestmark = pytest.mark.integration


def docker_list(entries: list[dict[str, Any]]) -> Blob:
    body = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries}
    return Blob.of(DOCKER_LIST, json.dumps(body, indent=3).encode())


def sound_list(registry, repo: str, tag: str = "1.0") -> dict[str, PushedImage]:
    images = push_arches(registry, repo, ("amd64", "arm64", "armv7"))
    push_index(registry, repo, tag, list(images.values()), "docker", attestation=False)
    return images


def child_lines(stdout: str, digest: str) -> list[str]:
    return [line for line in stdout.splitlines() if digest in line]


def test_a_sound_list_verifies_with_a_line_per_child(cli, registry_plain, repo):
    images = sound_list(registry_plain, repo)

    result = cli.ok("verify", ref(registry_plain.host, repo, "1.0"))

    lines = result.stdout_lines
    assert lines[-1] == "verified: ok"
    assert DOCKER_LIST in lines[0]
    for name, platform in (
        ("amd64", "linux/amd64"),
        ("arm64", "linux/arm64/v8"),
        ("armv7", "linux/arm/v7"),
    ):
        [line] = child_lines(result.stdout, images[name].digest)
        assert line.split()[:2] == ["ok", platform], line
        assert f"config {platform}" in line
    assert "FAIL" not in result.stdout


def test_a_sound_list_verifies_as_json(cli, registry_plain, repo):
    images = sound_list(registry_plain, repo)

    result = cli.ok("verify", "--json", ref(registry_plain.host, repo, "1.0"))

    report = result.json()
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["mediaType"] == DOCKER_LIST
    assert [c["digest"] for c in report["children"]] == [i.digest for i in images.values()]
    assert all(c["ok"] and not c["attestation"] for c in report["children"])
    assert [c["configPlatform"] for c in report["children"]] == [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
    ]


def test_expected_platforms_that_are_present_pass_with_arm64_meaning_arm64_v8(
    cli, registry_plain, repo
):
    sound_list(registry_plain, repo)

    result = cli.ok(
        "verify", ref(registry_plain.host, repo, "1.0"), "--platforms", "linux/amd64,linux/arm64"
    )

    assert result.stdout_lines[-1] == "verified: ok"


def test_an_amd64_image_listed_as_arm64_is_caught(cli, registry_plain, repo, rig_client):
    images = push_arches(registry_plain, repo, ("amd64", "armv7"))
    mislabeled = {
        **images["amd64"].descriptor(),
        "platform": {"architecture": "arm64", "os": "linux"},
    }
    rig_client(registry_plain).put_manifest(
        repo, "1.0", docker_list([images["armv7"].descriptor(), mislabeled])
    )
    target = ref(registry_plain.host, repo, "1.0")

    result = cli.run("verify", target)

    assert result.returncode == 1, str(result)
    assert result.stdout_lines[-1] == "verified: FAILED"
    [armv7_line] = child_lines(result.stdout, images["armv7"].digest)
    assert armv7_line.split()[0] == "ok"
    [line] = child_lines(result.stdout, images["amd64"].digest)
    assert line.split()[:2] == ["FAIL", "linux/arm64"], line
    assert "config linux/amd64" in line
    assert "listed as linux/arm64 but its image config says linux/amd64" in result.stdout

    report = cli.run("verify", "--json", target)
    assert report.returncode == 1
    body = report.json()
    assert body["ok"] is False
    bad = [c for c in body["children"] if not c["ok"]]
    assert [(c["digest"], c["platform"], c["configPlatform"]) for c in bad] == [
        (images["amd64"].digest, "linux/arm64", "linux/amd64")
    ]


def test_a_child_missing_from_the_repository_does_not_resolve(
    cli, registry_plain, repo, rig_client
):
    images = sound_list(registry_plain, repo)
    deleted = rig_client(registry_plain).delete_manifest(repo, images["arm64"].digest)
    assert deleted.status_code == 202, deleted.text

    result = cli.run("verify", ref(registry_plain.host, repo, "1.0"))

    assert result.returncode == 1, str(result)
    [line, problem] = [
        ln for ln in result.stdout.splitlines() if images["arm64"].digest in ln
    ]  # the child line and its problem line
    assert line.split()[0] == "FAIL"
    assert "does not resolve" in problem
    assert result.stdout_lines[-1] == "verified: FAILED"
    assert len(child_lines(result.stdout, images["amd64"].digest)) == 1  # still checked


def test_attestation_entries_fail_unless_allowed(cli, registry_plain, repo):
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "1.0", [images["amd64"], images["arm64"]])
    target = ref(registry_plain.host, repo, "1.0")

    strict = cli.run("verify", target)
    allowed = cli.run("verify", target, "--allow-attestations")

    assert strict.returncode == 1, str(strict)
    assert "2 attestation entries" in strict.stdout
    assert strict.stdout_lines[-1] == "verified: FAILED"
    assert allowed.returncode == 0, str(allowed)
    assert allowed.stdout_lines[-1] == "verified: ok"
    for digest in index.attestation_digests:
        [line] = child_lines(allowed.stdout, digest)
        assert line.split()[:2] == ["ok", "attestation"], line


def test_a_missing_expected_platform_fails(cli, registry_plain, repo):
    sound_list(registry_plain, repo)

    result = cli.run(
        "verify", ref(registry_plain.host, repo, "1.0"), "--platforms", "linux/amd64,linux/s390x"
    )

    assert result.returncode == 1, str(result)
    assert "expected platform linux/s390x is missing" in result.stdout
    assert "linux/amd64 is missing" not in result.stdout


def test_a_single_image_is_reported_as_not_a_list(cli, registry_plain, repo):
    images = push_arches(registry_plain, repo, ("arm64",))

    result = cli.run("verify", ref(registry_plain.host, repo, "arm64"))

    assert result.returncode == 1, str(result)
    assert "not a list: a single image" in result.stdout
    header, line = child_lines(result.stdout, images["arm64"].digest)  # the image itself
    assert header.split()[1:] == [images["arm64"].digest, images["arm64"].media_type]
    assert "config linux/arm64/v8" in line


def test_verify_of_a_missing_tag_is_a_one_line_error(cli, registry_plain, repo):
    push_arches(registry_plain, repo, ("amd64",))

    result = cli.run("verify", ref(registry_plain.host, repo, "nope"))

    assert_one_line_error(result, 1, "not found")


def test_two_entries_for_one_platform_fail(cli, registry_plain, repo, rig_client):
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    plain_arm64 = {
        **images["arm64"].descriptor(),
        "platform": {"architecture": "arm64", "os": "linux"},
    }
    rig_client(registry_plain).put_manifest(
        repo,
        "1.0",
        docker_list([images["amd64"].descriptor(), images["arm64"].descriptor(), plain_arm64]),
    )

    result = cli.run("verify", ref(registry_plain.host, repo, "1.0"))

    assert result.returncode == 1, str(result)
    assert "two entries for linux/arm64" in result.stdout


def test_an_attestation_for_an_image_not_in_the_list_fails_even_when_allowed(
    cli, registry_plain, repo, rig_client
):
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "buildx", [images["amd64"], images["arm64"]])
    amd64, _arm64, amd64_att, arm64_att = index.manifest["manifests"]
    orphaned = {**index.manifest, "manifests": [amd64, amd64_att, arm64_att]}
    rig_client(registry_plain).put_manifest(
        repo, "1.0", Blob.of(index.media_type, json.dumps(orphaned).encode())
    )

    result = cli.run("verify", ref(registry_plain.host, repo, "1.0"), "--allow-attestations")

    assert result.returncode == 1, str(result)
    [kept] = child_lines(result.stdout, amd64_att["digest"])
    assert kept.split()[:2] == ["ok", "attestation"], kept
    stray = child_lines(result.stdout, arm64_att["digest"])
    assert stray[0].split()[:2] == ["FAIL", "attestation"], stray
    assert images["arm64"].digest in result.stdout, "the missing subject must be named"
