"""`manifestor inspect` end to end: local lists, remote images and lists, in docker's JSON
shapes (annotations kept), `--raw` bytes, `--digest`, `--verbose` and the two-name form."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from clihelpers import (
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
)
from rig.images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, push_index

pytestmark = pytest.mark.integration

# The key order docker prints list descriptors in; annotations (which docker drops) are
# kept by manifestor, before the platform.
DESCRIPTOR_KEYS = ("mediaType", "size", "digest", "annotations", "platform")


def _docker_list_text(body: dict[str, Any]) -> str:
    """What `docker manifest inspect` prints for a list: 3-space indent, docker's key
    order, a trailing newline (annotations kept here)."""
    out: dict[str, Any] = {"schemaVersion": body["schemaVersion"], "mediaType": body["mediaType"]}
    out["manifests"] = [{k: d[k] for k in DESCRIPTOR_KEYS if k in d} for d in body["manifests"]]
    if "annotations" in body:
        out["annotations"] = body["annotations"]
    return json.dumps(out, indent=3) + "\n"


def test_inspect_local_list_prints_dockers_shape_and_keeps_annotations(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("arm64", "amd64"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "arm64"), ref(host, repo, "amd64"))
    descriptors = [images["arm64"].descriptor(), images["amd64"].descriptor()]

    plain = cli.ok("inspect", list_name)

    assert plain.stdout == _docker_list_text(
        {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": descriptors}
    )

    cli.ok("annotate", list_name, ref(host, repo, "amd64"), "--annotation", "org.example.a=1")
    annotated = cli.ok("inspect", list_name)

    descriptors[1]["annotations"] = {"org.example.a": "1"}
    assert annotated.stdout == _docker_list_text(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    )


@pytest.mark.parametrize("arch", ["amd64", "ppc64le"], ids=["docker-image", "oci-image"])
def test_inspect_remote_image_prints_the_registry_json_tab_indented(
    cli, registry_plain, repo, rig_client, arch
):
    host = registry_plain.host
    image = push_arches(registry_plain, repo, (arch,))[arch]
    served = rig_client(registry_plain).get_manifest(repo, arch).content

    shown = cli.ok("inspect", ref(host, repo, arch))

    assert shown.stdout == json.dumps(json.loads(served), indent="\t") + "\n"
    assert shown.json()["mediaType"] == image.media_type


def test_inspect_remote_list_prints_dockers_shape_and_keeps_annotations(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "buildx", list(images.values()))

    shown = cli.ok("inspect", ref(host, repo, "buildx"))

    assert shown.stdout == _docker_list_text(index.manifest)
    body = shown.json()
    assert body["annotations"] == index.manifest["annotations"]
    assert body["manifests"][2]["annotations"]["vnd.docker.reference.type"] == (
        "attestation-manifest"
    )


def test_inspect_raw_prints_exactly_the_bytes_the_registry_serves(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "buildx", list(images.values()))
    rig = rig_client(registry_plain)

    for reference, served in [
        (ref(host, repo, "buildx"), rig.get_manifest(repo, "buildx").content),
        (f"{host}/{repo}@{index.digest}", index.manifest_bytes),
        (ref(host, repo, "arm64"), rig.get_manifest(repo, "arm64").content),
    ]:
        shown = cli.ok("inspect", "--raw", reference)
        assert shown.stdout_bytes == served, reference


def test_inspect_digest_prints_only_the_digest_from_a_head_request(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    images = push_arches(registry_plain, repo, ("amd64",))
    index = push_index(registry_plain, repo, "buildx", list(images.values()))

    of_list, of_image = cli.ok_many(
        ["inspect", "--digest", ref(proxy.host, repo, "buildx")],
        ["inspect", "--digest", ref(proxy.host, repo, "amd64")],
    )

    assert of_list.stdout == index.digest + "\n"
    assert of_image.stdout == images["amd64"].digest + "\n"
    manifest_requests = {r.method for r in proxy.requests if "/manifests/" in r.path}
    assert manifest_requests == {"HEAD"}  # nothing downloaded


def test_inspect_verbose_remote_list_shows_each_child(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    index = push_index(registry_plain, repo, "buildx", list(images.values()))
    rig = rig_client(registry_plain)

    shown = cli.ok("inspect", "--verbose", ref(host, repo, "buildx"))

    assert shown.stdout.startswith('[\n\t{\n\t\t"Ref": ')  # docker's tab indent
    entries = shown.json()
    assert len(entries) == 4
    for entry, descriptor in zip(entries, index.manifest["manifests"], strict=True):
        digest = descriptor["digest"]
        assert entry["Ref"] == f"{host}/{repo}:buildx@{digest}"
        assert entry["Descriptor"]["digest"] == digest
        assert entry["Descriptor"]["platform"] == descriptor["platform"]
        raw = base64.b64decode(entry["Raw"])
        assert raw == rig.get_manifest(repo, digest).content
        key = "SchemaV2Manifest" if descriptor["mediaType"] == DOCKER_MANIFEST else "OCIManifest"
        assert entry[key] == json.loads(raw)
    assert entries[2]["Descriptor"]["annotations"]["vnd.docker.reference.type"] == (
        "attestation-manifest"
    )


def test_inspect_verbose_remote_image_reads_the_platform_from_its_config(cli, registry_plain, repo):
    host = registry_plain.host
    image = push_arches(registry_plain, repo, ("arm64",))["arm64"]

    shown = cli.ok("inspect", "-v", ref(host, repo, "arm64"))

    assert shown.stdout.startswith('{\n\t"Ref": ')
    assert shown.json() == {
        "Ref": ref(host, repo, "arm64"),
        "Descriptor": {
            "mediaType": DOCKER_MANIFEST,
            "digest": image.digest,
            "size": image.size,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        "Raw": base64.b64encode(image.manifest_bytes).decode(),
        "SchemaV2Manifest": json.loads(image.manifest_bytes),
    }


def test_inspect_verbose_local_list_and_the_two_name_form(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("armv7", "ppc64le"))
    list_name = ref(host, repo, "1")
    sources = [ref(host, repo, "armv7"), ref(host, repo, "ppc64le")]
    cli.ok("create", list_name, *sources)
    cli.ok("annotate", list_name, sources[1], "--annotation", "org.example.b=2")

    verbose = cli.ok("inspect", "--verbose", list_name).json()
    one = cli.ok("inspect", list_name, sources[1])
    one_verbose = cli.ok("inspect", "-v", list_name, sources[1])
    one_raw = cli.ok("inspect", "--raw", list_name, sources[1])

    assert [e["Ref"] for e in verbose] == sources
    assert [base64.b64decode(e["Raw"]) for e in verbose] == [
        images["armv7"].manifest_bytes,
        images["ppc64le"].manifest_bytes,
    ]
    assert verbose[0]["SchemaV2Manifest"] == json.loads(images["armv7"].manifest_bytes)
    assert verbose[1]["OCIManifest"] == json.loads(images["ppc64le"].manifest_bytes)
    assert verbose[1]["Descriptor"]["mediaType"] == OCI_MANIFEST
    assert verbose[1]["Descriptor"]["annotations"] == {"org.example.b": "2"}
    # Like docker: the entry's manifest tab-indented; -v: the stored entry object.
    ppc64le = images["ppc64le"].manifest_bytes
    assert one.stdout == json.dumps(json.loads(ppc64le), indent="\t") + "\n"
    assert one_verbose.stdout.startswith('{\n\t"Ref": ')
    assert one_verbose.json() == verbose[1]
    assert one_raw.stdout_bytes == ppc64le


def test_inspect_reports_a_corrupt_local_list_instead_of_hiding_it(
    cli, registry_plain, repo, tmp_path
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    last_line_digest(cli.ok("push", list_name))  # the registry has a good copy
    assert_pullable(list_name, tmp_path)
    [list_dir] = cli.list_dirs()
    entry = sorted((cli.store_dir / list_dir).iterdir())[0]
    entry.write_bytes(entry.read_bytes()[:-20])
    before = cli.snapshot()

    results = cli.run_many(
        *(["inspect", *flags, list_name] for flags in ([], ["--raw"], ["--digest"], ["-v"])),
        ["inspect", list_name, ref(host, repo, "arm64")],
    )
    for result in results:
        assert_one_line_error(result, 1, "corrupt", list_name, entry.name)
    assert cli.snapshot() == before


def test_inspect_format_chooses_the_local_lists_media_type(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))

    assert cli.ok("inspect", list_name).json()["mediaType"] == DOCKER_LIST
    assert cli.ok("inspect", "--format", "oci", list_name).json()["mediaType"] == OCI_INDEX
    oci = cli.ok("inspect", "--raw", "--format", "oci", list_name).stdout_bytes
    assert json.loads(oci)["mediaType"] == OCI_INDEX
