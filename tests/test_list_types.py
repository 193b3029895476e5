"""No list that its consumers reject: a Docker manifest list holds Docker image manifests
only. `--format docker` with an OCI child is refused with the reason, `--format auto`
never falls back to such a list, and `verify` flags one that someone else published."""

from __future__ import annotations

import json
import re

import pytest
from clihelpers import assert_one_line_error, push_arches, ref
from oneshothelpers import tag_absent
from rig.faultproxy import status
from rig.images import DOCKER_LIST, OCI_INDEX, Blob

pytestmark = pytest.mark.integration

MANIFEST_INVALID = json.dumps(
    {"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid", "detail": {}}]}
).encode()


def test_format_docker_with_an_oci_child_is_refused_for_a_local_list(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "ppc64le"))  # ppc64le is an OCI manifest
    cli.ok("create", ref(host, repo, "1"), ref(host, repo, "amd64"), ref(host, repo, "ppc64le"))

    pushed = cli.run("push", "--format", "docker", ref(host, repo, "1"))
    shown = cli.run("inspect", "--media-type", "docker", ref(host, repo, "1"))

    for result in (pushed, shown):
        assert_one_line_error(
            result,
            2,
            "Docker manifest list can hold only Docker image manifests",
            "application/vnd.oci.image.manifest.v1+json",
            "--format oci",
        )
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_format_docker_with_an_oci_child_is_refused_for_a_one_shot_push(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "ppc64le"))

    result = cli.run("push", "--format", "docker", ref(host, repo, "1"), ref(host, repo, "ppc64le"))

    assert_one_line_error(result, 2, "only Docker image manifests", "a child is")
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_auto_format_does_not_fall_back_to_a_docker_list_of_oci_children(
    cli, registry_plain, repo, fault_proxy, rig_client
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "ppc64le"))
    proxy.add_fault(
        ("PUT", rf"^/v2/{re.escape(repo)}/manifests/1$"),
        status(400, {"Content-Type": "application/json"}, MANIFEST_INVALID),
    )

    result = cli.run(
        "push",
        ref(proxy.host, repo, "1"),
        ref(proxy.host, repo, "amd64"),
        ref(proxy.host, repo, "ppc64le"),
    )

    assert_one_line_error(result, 1, "manifest invalid")
    puts = [
        r.header_values("Content-Type")[0]
        for r in proxy.requests
        if r.method == "PUT" and r.path == f"/v2/{repo}/manifests/1"
    ]
    assert puts == [OCI_INDEX]  # the index only, never a Docker list of OCI manifests
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_verify_flags_a_docker_list_with_oci_children(cli, registry_plain, repo, rig_client):
    images = push_arches(registry_plain, repo, ("amd64", "ppc64le"))
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [images["amd64"].descriptor(), images["ppc64le"].descriptor()],
    }
    rig_client(registry_plain).put_manifest(
        repo, "1", Blob.of(DOCKER_LIST, json.dumps(body, indent=3).encode())
    )

    result = cli.run("verify", ref(registry_plain.host, repo, "1"))

    assert result.returncode == 1, str(result)
    assert result.stdout_lines[-1] == "verified: FAILED"
    [problem] = [line for line in result.stdout_lines if "Docker manifest list" in line]
    assert problem.startswith("  FAIL ")
    assert "application/vnd.oci.image.manifest.v1+json" in problem
    report = cli.run("verify", "--json", ref(registry_plain.host, repo, "1")).json()
    assert report["ok"] is False
    assert all(child["ok"] for child in report["children"])  # the list is wrong, not a child
