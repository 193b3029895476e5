"""`push LIST` checks each entry's platform against its image's config, as the one-shot
push does: an annotate that made a linux/386 image windows/arm64 stops the push, naming
both, before anything is written. `--allow-platform-mismatch` is the deliberate override."""

from __future__ import annotations

import pytest
from clihelpers import assert_one_line_error, last_line_digest, push_arches, ref
from oneshothelpers import tag_absent
from rig.images import make_image, push_image

pytestmark = pytest.mark.integration


@pytest.fixture
def mislabelled(cli, registry_plain, repo) -> str:
    """A local list whose linux/386 image was annotated as windows/arm64."""
    host = registry_plain.host
    push_image(registry_plain, repo, "386", make_image("linux", "386"))
    push_arches(registry_plain, repo, ("amd64",))
    name = ref(host, repo, "1")
    cli.ok("create", name, ref(host, repo, "amd64"), ref(host, repo, "386"))
    cli.ok("annotate", name, ref(host, repo, "386"), "--os", "windows", "--arch", "arm64")
    return name


def test_an_entry_that_contradicts_its_config_stops_the_push_naming_both(
    cli, registry_plain, repo, rig_client, mislabelled
):
    before = cli.snapshot()

    result = cli.run("push", "--purge", mislabelled)

    assert_one_line_error(
        result,
        1,
        f"{registry_plain.host}/{repo}:386",
        "listed in",
        "as windows/arm64",
        "image config says linux/386",
        "--allow-platform-mismatch",
    )
    assert tag_absent(rig_client(registry_plain), repo, "1")
    assert cli.snapshot() == before  # not purged


def test_allow_platform_mismatch_publishes_the_entry_as_annotated(
    cli, registry_plain, repo, rig_client, mislabelled
):
    result = cli.ok("push", "--allow-platform-mismatch", mislabelled)

    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert served.headers["Docker-Content-Digest"] == last_line_digest(result)
    platforms = [m["platform"] for m in served.json()["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "windows"},
    ]


def test_an_annotated_variant_is_not_compared_with_the_config(
    cli, registry_plain, repo, rig_client
):
    # What docker users do: an arm/v7 image annotated as arm/v6 is their call to make;
    # only the os and the architecture must agree with the config.
    host = registry_plain.host
    push_arches(registry_plain, repo, ("armv7",))
    name = ref(host, repo, "1")
    cli.ok("create", name, ref(host, repo, "armv7"))
    cli.ok("annotate", name, ref(host, repo, "armv7"), "--variant", "v6")

    cli.ok("push", name)

    [entry] = rig_client(registry_plain).get_manifest(repo, "1").json()["manifests"]
    assert entry["platform"] == {"architecture": "arm", "os": "linux", "variant": "v6"}


def test_an_unchanged_list_is_not_checked_again(cli, registry_plain, repo, fault_proxy):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64",))
    name = ref(proxy.host, repo, "1")
    cli.ok("create", name, ref(proxy.host, repo, "amd64"))
    cli.ok("push", name)
    proxy.reset()

    again = cli.ok("push", name)

    assert "unchanged" in again.stderr
    assert not [r for r in proxy.requests if "/blobs/" in r.path]  # no config read


def test_an_annotated_variant_the_config_leaves_out_is_no_contradiction(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_image(registry_plain, repo, "arm64", make_image("linux", "arm64"))  # no variant
    name = ref(host, repo, "1")
    cli.ok("create", name, ref(host, repo, "arm64"))
    cli.ok("annotate", name, ref(host, repo, "arm64"), "--variant", "v8")

    cli.ok("push", name)

    [entry] = rig_client(registry_plain).get_manifest(repo, "1").json()["manifests"]
    assert entry["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}


def test_a_stated_platform_that_contradicts_the_config_needs_the_override_in_one_shot(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_image(registry_plain, repo, "386", make_image("linux", "386"))
    args = ("push", ref(host, repo, "1"), ref(host, repo, "386") + "=linux/arm64/v8")

    refused = cli.run(*args)
    assert_one_line_error(refused, 1, "given as linux/arm64/v8", "image config says linux/386")
    assert tag_absent(rig_client(registry_plain), repo, "1")

    cli.ok(*args, "--allow-platform-mismatch")
    [entry] = rig_client(registry_plain).get_manifest(repo, "1").json()["manifests"]
    assert entry["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
