"""Lists manifestor pushes, read by podman as a user would: `podman manifest inspect` sees
every entry with its platform, and `podman pull --arch` picks the right child, with its
own throwaway store. Alongside the skopeo and docker checks (test_docker_interop.py).

podman must be installed (scripts/setup.sh installs it); these tests fail, not skip,
without it."""

from __future__ import annotations

import json
import subprocess

import pytest
from clihelpers import ARCHES, assert_pullable, last_line_digest, make_cli, push_arches, ref
from podmanhelpers import Podman, platform_args, podman_store
from rig.images import DOCKER_LIST, OCI_INDEX, push_index

from manifestor.model.platform import parse_platform, platforms_match

pytestmark = pytest.mark.integration

PLATFORMS = {"amd64": "linux/amd64", "arm64": "linux/arm64/v8", "armv7": "linux/arm/v7"}


@pytest.fixture
def podman(registry_plain):
    with podman_store() as store:
        store.allow_plain_http(registry_plain.host)
        yield store


def _inspect(podman: Podman, reference: str) -> dict:
    return json.loads(podman.ok("manifest", "inspect", reference))


def _pulled_platform(podman: Podman, reference: str, platform: str) -> tuple[str, str]:
    """Pull `platform` of the list at `reference`; (platform of the image podman stored,
    its image ID: the digest of the config it pulled)."""
    podman.ok("pull", "--quiet", "--tls-verify=false", *platform_args(platform), reference)
    shown = json.loads(podman.ok("image", "inspect", reference))[0]
    variant = shown.get("Variant") or ""
    stored = f"{shown['Os']}/{shown['Architecture']}" + (f"/{variant}" if variant else "")
    podman.ok("rmi", "--force", reference)  # the next pull of the same name starts clean
    return stored, f"sha256:{shown['Id']}"


def _same(stored: str, expected: str) -> bool:
    # podman records arm64/v8 as plain arm64, as containerd normalises it.
    return platforms_match(parse_platform(stored), parse_platform(expected))


@pytest.mark.parametrize(
    ("names", "fmt", "media_type"),
    [
        (("amd64", "arm64", "armv7"), "auto", DOCKER_LIST),
        (("amd64", "arm64", "armv7"), "oci", OCI_INDEX),
        (("amd64", "ppc64le"), "auto", OCI_INDEX),  # an OCI child makes an OCI index
    ],
)
def test_podman_inspects_and_pulls_each_platform_of_a_pushed_list(
    cli, registry_plain, repo, podman, rig_client, tmp_path, names, fmt, media_type
):
    host = registry_plain.host
    src = f"{repo}-src"  # another repository: manifestor brings the children across
    images = push_arches(registry_plain, src, names)
    target = ref(host, repo, "1")
    digest = last_line_digest(
        cli.ok("push", "--format", fmt, target, *(ref(host, src, n) for n in names))
    )

    listing = _inspect(podman, target)

    # podman 4.3 shows an index of Docker children in the Docker list shape, so the type
    # is checked at the registry; podman must see the same entries and platforms.
    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert served.headers["Content-Type"] == media_type
    assert [m["digest"] for m in listing["manifests"]] == [images[n].digest for n in names]
    for name, entry in zip(names, listing["manifests"], strict=True):
        expected = PLATFORMS.get(name) or f"{ARCHES[name]['os']}/{ARCHES[name]['arch']}"
        shown = entry["platform"]
        assert (
            "/".join(
                [
                    shown["os"],
                    shown["architecture"],
                    *([shown["variant"]] if shown.get("variant") else []),
                ]
            )
            == expected
        )
    for name in names:
        platform = PLATFORMS.get(name) or f"{ARCHES[name]['os']}/{ARCHES[name]['arch']}"
        stored, pulled = _pulled_platform(podman, f"{host}/{repo}@{digest}", platform)
        assert pulled == images[name].config_digest, f"podman pulled the wrong {platform}"
        assert _same(stored, platform), (stored, platform)
    assert_pullable(target, tmp_path)  # skopeo agrees


def test_podman_pulls_the_right_image_from_a_list_with_kept_attestations(
    cli, registry_plain, repo, podman
):
    host = registry_plain.host
    build = f"{repo}-build"
    images = push_arches(registry_plain, build, ("amd64", "arm64"))
    push_index(registry_plain, build, "1", list(images.values()), attestation=True)
    target = ref(host, repo, "1")
    cli.ok("push", "--attestations", "keep", target, ref(host, build, "1"))

    listing = _inspect(podman, target)
    assert len(listing["manifests"]) == 4  # two images, two attestations

    for name in ("amd64", "arm64"):
        stored, pulled = _pulled_platform(podman, target, PLATFORMS[name])
        assert _same(stored, PLATFORMS[name]) and pulled == images[name].config_digest


def test_podman_reads_a_list_pushed_to_a_basic_auth_registry(registry_basic, repo, tmp_path):
    host = registry_basic.host
    auth = ("alice", "alice-pw")
    images = push_arches(registry_basic, f"{repo}-src", ("amd64", "arm64"), auth=auth)
    cli = make_cli(tmp_path)
    target = ref(host, repo, "1")
    env_cli = cli.env()
    env_cli.update(MANIFESTOR_USERNAME="alice", MANIFESTOR_PASSWORD="alice-pw")
    pushed = subprocess.run(
        cli.command(["push", target, *(ref(host, f"{repo}-src", n) for n in images)]),
        env=env_cli,
        capture_output=True,
        timeout=120,
    )
    assert pushed.returncode == 0, pushed.stderr.decode()

    with podman_store() as podman:
        podman.allow_plain_http(host)
        podman.ok("login", "-u", "alice", "--password-stdin", host, stdin="alice-pw")
        listing = _inspect(podman, target)
        assert [m["digest"] for m in listing["manifests"]] == [i.digest for i in images.values()]
        stored, pulled = _pulled_platform(podman, target, PLATFORMS["arm64"])
    assert _same(stored, PLATFORMS["arm64"]) and pulled == images["arm64"].config_digest
    assert_pullable(target, tmp_path, creds=auth)
