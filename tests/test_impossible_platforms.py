"""Platforms that cannot exist are refused wherever they come from: an image config
(`linux/amd64/v8`, which podman cannot pull), `annotate --variant`, a `--platform` filter;
`verify` flags such an entry on its own. A filter that selects nothing says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelpers import assert_one_line_error, last_line_digest, push_arches, ref
from oneshothelpers import tag_absent
from rig.images import DOCKER_LIST, Image, make_image, push_image, push_index

pytestmark = pytest.mark.integration


def write_layout(image: Image, root: Path) -> Path:
    """A single-image OCI layout holding `image` (what `buildah push IMG oci:DIR` writes)."""
    for blob in (image.layer, image.config, image.manifest):
        path = root / "blobs" / "sha256" / blob.digest.split(":", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob.data)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    top = {"mediaType": image.media_type, "digest": image.digest, "size": image.manifest.size}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return root


def test_a_layout_whose_config_says_amd64_v8_is_refused_and_nothing_is_written(
    cli, registry_plain, repo, rig_client, tmp_path
):
    impossible = make_image("linux", "amd64", "v8", media="oci", layer_text="amd64 v8")
    layout = write_layout(impossible, tmp_path / "amd64-v8")
    arm64 = write_layout(make_image("linux", "arm64", "v8", media="oci"), tmp_path / "arm64")

    result = cli.run("push", ref(registry_plain.host, repo, "1"), f"oci:{layout}", f"oci:{arm64}")

    assert_one_line_error(
        result, 2, "linux/amd64/v8", 'variant "v8" is not known for architecture "amd64"'
    )
    rig = rig_client(registry_plain)
    assert tag_absent(rig, repo, "1")
    assert not rig.blob_exists(repo, impossible.layer.digest)


def test_a_registry_image_whose_config_says_amd64_v8_is_not_pushed_from_a_local_list(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_image(registry_plain, repo, "amd64v8", make_image("linux", "amd64", "v8"))
    cli.ok("create", ref(host, repo, "1"), ref(host, repo, "amd64v8"))

    result = cli.run("push", ref(host, repo, "1"))

    assert_one_line_error(result, 2, "amd64v8", "linux/amd64/v8", "accepted: v1, v2, v3, v4")
    assert tag_absent(rig_client(registry_plain), repo, "1")


@pytest.mark.parametrize("variant", ["banana", "v99"])
def test_annotate_refuses_a_variant_that_cannot_exist_and_changes_nothing(
    cli, registry_plain, repo, variant
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("arm64",))
    cli.ok("create", ref(host, repo, "1"), ref(host, repo, "arm64"))
    before = cli.snapshot()

    result = cli.run(
        "annotate", ref(host, repo, "1"), ref(host, repo, "arm64"), "--variant", variant
    )

    assert_one_line_error(result, 2, f'variant "{variant}"', "arm64", "accepted: v8")
    assert cli.snapshot() == before


def test_annotate_accepts_a_dotted_arm64_level(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("arm64",))
    cli.ok("create", ref(host, repo, "1"), ref(host, repo, "arm64"))

    cli.ok("annotate", ref(host, repo, "1"), ref(host, repo, "arm64"), "--variant", "8.2")

    shown = cli.ok("inspect", ref(host, repo, "1")).json()
    assert shown["manifests"][0]["platform"]["variant"] == "v8.2"


def test_annotate_refuses_an_arch_change_that_leaves_an_impossible_variant(
    cli, registry_plain, repo
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("arm64",))
    cli.ok("create", ref(host, repo, "1"), ref(host, repo, "arm64"))

    result = cli.run("annotate", ref(host, repo, "1"), ref(host, repo, "arm64"), "--arch", "s390x")

    assert_one_line_error(result, 2, "linux/s390x/v8", 'architecture "s390x" has no variants')


def test_verify_flags_an_impossible_platform_without_platforms_option(
    cli, registry_plain, repo, rig_client
):
    images = push_arches(registry_plain, repo, ("arm64",))
    odd = push_image(registry_plain, repo, "amd64v8", make_image("linux", "amd64", "v8"))
    push_index(registry_plain, repo, "1", [images["arm64"], odd], "docker", attestation=False)

    result = cli.run("verify", ref(registry_plain.host, repo, "1"))

    assert result.returncode == 1, str(result)
    assert result.stdout_lines[-1] == "verified: FAILED"
    lines = result.stdout.splitlines()
    [at] = [i for i, line in enumerate(lines) if odd.digest in line]
    assert lines[at].split()[:2] == ["FAIL", "linux/amd64/v8"], result.stdout
    assert 'variant "v8" is not known for architecture "amd64"' in lines[at + 1]
    report = cli.run("verify", "--json", ref(registry_plain.host, repo, "1")).json()
    assert [c["ok"] for c in report["children"]] == [True, False]


@pytest.mark.parametrize("value", ["linux/banana", "linux/arm64/v99", "linux/amd64/v8"])
def test_a_platform_filter_that_is_not_a_platform_is_an_error(
    cli, registry_plain, repo, rig_client, value
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "src", list(images.values()), "docker", attestation=False)

    created = cli.run("create", "--platform", value, ref(host, repo, "1"), ref(host, repo, "src"))
    pushed = cli.run("push", "--platform", value, ref(host, repo, "1"), ref(host, repo, "src"))

    for result in (created, pushed):
        assert_one_line_error(result, 2, "--platform", value)
    assert cli.snapshot() == {}
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_a_filter_value_that_selects_nothing_from_any_source_says_so(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "src", list(images.values()), "docker", attestation=False)
    both = "linux/arm64,linux/s390x"

    created = cli.run("create", "--platform", both, ref(host, repo, "1"), ref(host, repo, "src"))
    pushed = cli.run("push", "--platform", both, ref(host, repo, "1"), ref(host, repo, "src"))

    for result in (created, pushed):
        assert_one_line_error(result, 2, "--platform linux/s390x selects no image")
    assert cli.snapshot() == {}
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_a_filter_that_selects_nothing_from_a_source_list_names_what_it_has(
    cli, registry_plain, repo
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "src", list(images.values()), "docker", attestation=False)

    result = cli.run(
        "create", "--platform", "linux/s390x", ref(host, repo, "1"), ref(host, repo, "src")
    )

    assert_one_line_error(
        result, 2, "has no image for the requested platforms", "linux/amd64, linux/arm64/v8"
    )


def test_a_filter_given_with_a_single_image_source_that_it_does_not_select_says_so(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    layout = write_layout(make_image("linux", "amd64", media="oci"), tmp_path / "amd64")

    created = cli.run(
        "create", "--platform", "linux/arm64", ref(host, repo, "1"), ref(host, repo, "amd64")
    )
    pushed = cli.run(
        "push", "--platform", "linux/arm64", ref(host, repo, "1"), ref(host, repo, "amd64")
    )
    from_layout = cli.run(
        "push", "--platform", "linux/arm64", ref(host, repo, "1"), f"oci:{layout}"
    )

    for result in (created, pushed):
        assert_one_line_error(result, 2, "single image for linux/amd64", "linux/arm64")
    assert_one_line_error(from_layout, 2, "has no image for the requested", "it has linux/amd64")
    assert cli.snapshot() == {}
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_a_filter_that_selects_a_single_image_keeps_it(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))

    result = cli.ok(
        "push",
        "--platform",
        "linux/amd64",
        ref(host, repo, "1"),
        ref(host, repo, "amd64"),
    )

    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert served.headers["Docker-Content-Digest"] == last_line_digest(result)
    body = served.json()
    assert body["mediaType"] == DOCKER_LIST
    assert [m["digest"] for m in body["manifests"]] == [images["amd64"].digest]
