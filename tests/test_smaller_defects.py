"""Smaller defects found by reading the code (issue 10, item 9): kept attestations survive a
stated platform, one child's bad config is marked in the verify report instead of ending
it, a tag-list page over 1 MiB is read whole, and a loopback registry behind a TLS server
that is not Go's (nginx answers plain HTTP with its own 400) is reached over HTTPS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelpers import last_line_digest, push_arches, ref
from oneshothelpers import OCI_INDEX, assert_served_list, image_entry
from rig.faultproxy import status
from rig.images import DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, Blob, push_index
from rig.tlsfront import NginxStyleTLSFront

from manifestor.local.keychain import Keychain
from manifestor.model.reference import parse_reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

pytestmark = pytest.mark.integration


# -- attestations with a stated platform -----------------------------------------------------


def test_attestations_keep_holds_when_a_platform_is_stated(cli, registry_plain, repo, rig_client):
    build_repo = f"{repo}-build"
    images = push_arches(registry_plain, build_repo, ("amd64", "arm64"))
    index = push_index(registry_plain, build_repo, "1", list(images.values()), attestation=True)
    [arm64_attestation] = [
        e
        for e in index.manifest["manifests"]
        if e.get("annotations", {}).get("vnd.docker.reference.digest") == images["arm64"].digest
    ]
    source = ref(registry_plain.host, build_repo, "1")

    result = cli.ok(
        "push",
        ref(registry_plain.host, repo, "1"),
        source + "=linux/arm64/v8",
        "--attestations",
        "keep",
    )

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[image_entry(images["arm64"]), arm64_attestation],
    )


# -- verify goes on past one child's bad config ---------------------------------------------


def test_a_child_whose_config_is_not_json_is_marked_and_the_others_still_checked(
    cli, registry_plain, repo, rig_client
):
    rig = rig_client(registry_plain)
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    config = Blob.of(DOCKER_CONFIG, b"this is not JSON")
    rig.push_blob(repo, config)
    broken = Blob.of(
        DOCKER_MANIFEST,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": config.descriptor(),
                "layers": [images["amd64"].image.layer.descriptor()],
            },
            indent=3,
        ).encode(),
    )
    rig.put_manifest(repo, broken.digest, broken)
    entries = [
        images["amd64"].descriptor(),
        broken.descriptor(platform={"architecture": "s390x", "os": "linux"}),
        images["arm64"].descriptor(),
    ]
    body = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries}
    rig.put_manifest(repo, "1", Blob.of(DOCKER_LIST, json.dumps(body, indent=3).encode()))

    result = cli.run("verify", "--json", ref(registry_plain.host, repo, "1"))

    assert result.returncode == 1, str(result)
    report = result.json()
    assert [(c["digest"], c["ok"]) for c in report["children"]] == [
        (images["amd64"].digest, True),
        (broken.digest, False),
        (images["arm64"].digest, True),
    ]
    [problem] = report["children"][1]["problems"]
    assert "not valid JSON" in problem
    text = cli.run("verify", ref(registry_plain.host, repo, "1"))
    assert text.stdout_lines[-1] == "verified: FAILED"


# -- a tag list bigger than the small-body limit ---------------------------------------------


def test_a_tag_list_page_over_one_mib_is_read_whole(registry_plain, repo, fault_proxy, tmp_path):
    proxy = fault_proxy(registry_plain)
    many = [f"build-{i:06d}-{'x' * 100}" for i in range(10_000)]  # about 1.1 MiB of JSON
    link = f'</v2/{repo}/tags/list?n=10000&last={many[-1]}>; rel="next"'
    pages = ((many, {"Link": link}), (["last"], {}))
    for tags, headers in pages:
        page = json.dumps({"name": repo, "tags": tags}).encode()
        proxy.add_fault(
            ("GET", rf"^/v2/{re.escape(repo)}/tags/list$"),
            status(200, {"Content-Type": "application/json", **headers}, page),
        )
    assert len(json.dumps({"name": repo, "tags": many})) > 1024 * 1024

    keychain = Keychain(tmp_path / "no-docker-config", environ={})
    with RegistryClient(keychain=keychain, retry=RetryPolicy(attempts=1)) as client:
        tags = client.list_tags(parse_reference(f"{proxy.host}/{repo}"))

    assert tags == [*many, "last"]


# -- a loopback registry behind nginx-style TLS ----------------------------------------------


@pytest.fixture
def nginx_front(registry_plain, tmp_path) -> Iterator[NginxStyleTLSFront]:
    front = NginxStyleTLSFront(registry_plain.url, tmp_path / "front")
    yield front
    front.close()


def _certs_dir(tmp_path: Path, host: str, ca_pem: bytes) -> Path:
    host_dir = tmp_path / "certs.d" / host
    host_dir.mkdir(parents=True)
    (host_dir / "ca.crt").write_bytes(ca_pem)
    return host_dir.parent


def test_ping_tries_https_when_plain_http_gets_a_non_go_400(nginx_front, tmp_path):
    transport = Transport(
        certs_dir=_certs_dir(tmp_path, nginx_front.host, nginx_front.ca_pem),
        retry=RetryPolicy(attempts=1),
    )
    try:
        response = transport.ping(nginx_front.host)
    finally:
        transport.close()

    assert response.status in (200, 401)
    assert transport.base_url(nginx_front.host) == f"https://{nginx_front.host}"
    assert nginx_front.plain_requests == 1  # tried plain HTTP first (loopback), once
    assert nginx_front.tls_requests == [("GET", "/v2/")]


def test_a_list_behind_nginx_style_tls_on_loopback_is_inspected_over_https(
    cli, registry_plain, repo, nginx_front, tmp_path
):
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    push_index(registry_plain, repo, "1", list(images.values()), "docker", attestation=False)
    certs = _certs_dir(tmp_path, nginx_front.host, nginx_front.ca_pem)

    result = cli.ok("inspect", ref(nginx_front.host, repo, "1"), certs_dir=certs)

    assert [m["digest"] for m in result.json()["manifests"]] == [
        images["amd64"].digest,
        images["arm64"].digest,
    ]
    assert ("GET", f"/v2/{repo}/manifests/1") in nginx_front.tls_requests


def test_a_loopback_registry_that_answers_400_to_both_is_still_taken_for_plain_http(
    registry_plain, fault_proxy
):
    # A plain-HTTP registry that really answers 400 (a proxy in front of it, say): HTTPS
    # fails with a TLS error, so the plain answer stands, as before.
    proxy = fault_proxy(registry_plain)
    proxy.add_fault(("GET", r"^/v2/$"), status(400, {}, b"bad request"))
    transport = Transport(retry=RetryPolicy(attempts=1))
    try:
        response = transport.ping(proxy.host)
    finally:
        transport.close()

    assert response.status == 400
    assert transport.base_url(proxy.host) == f"http://{proxy.host}"
