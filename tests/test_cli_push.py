"""`manifestor push` end to end: what reaches the registry (bytes, order, media type), the
child checks and cross-repository / cross-registry transfers (seen through a logging proxy),
--purge, TLS with certs.d or --insecure, and Basic / token credentials from config.json.
Every pushed list is pulled back with `skopeo copy --all`."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from clihelpers import (
    Cli,
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
    sha256,
)
from rig.faultproxy import status
from rig.images import DOCKER_LIST, OCI_INDEX

pytestmark = pytest.mark.integration


def _query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.query).items()}


def test_push_sends_the_inspected_bytes_in_the_given_order_and_prints_the_digest_last(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    order = ("armv7", "arm64", "amd64")
    images = push_arches(registry_plain, repo, order)
    list_name = ref(host, repo, "1.0")
    cli.ok("create", list_name, *(ref(host, repo, n) for n in order))  # no TLS/HTTP flags
    raw, digest_only, view = cli.ok_many(
        ["inspect", "--raw", list_name], ["inspect", "--digest", list_name], ["inspect", list_name]
    )
    local_raw, local_digest, local_view = raw.stdout_bytes, digest_only.stdout.strip(), view.stdout

    pushed = cli.ok("push", list_name)

    digest = last_line_digest(pushed)
    assert digest == local_digest == sha256(local_raw)
    served = rig_client(registry_plain).get_manifest(repo, "1.0")
    assert served.content == local_raw
    assert served.headers["Docker-Content-Digest"] == digest
    assert served.headers["Content-Type"] == DOCKER_LIST
    assert [m["digest"] for m in served.json()["manifests"]] == [images[n].digest for n in order]
    # The registry's copy reads back the same, remotely, once the local list is gone.
    cli.ok("rm", list_name)
    raw, digest_only, view = cli.ok_many(
        ["inspect", "--raw", list_name], ["inspect", "--digest", list_name], ["inspect", list_name]
    )
    assert raw.stdout_bytes == local_raw
    assert digest_only.stdout == digest + "\n"
    assert view.stdout == local_view
    assert_pullable(list_name, tmp_path)


def test_push_purge_removes_the_local_list_after_success(cli, registry_plain, repo, tmp_path):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))

    last_line_digest(cli.ok("push", "--purge", list_name))

    assert cli.list_dirs() == []
    assert "no local manifest lists" in cli.ok("ls").stderr
    assert_pullable(list_name, tmp_path)


def test_push_names_a_child_deleted_since_create_and_keeps_the_list(
    cli, registry_plain, repo, rig_client, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    host = proxy.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok(
        "create",
        list_name,
        ref(host, repo, "amd64"),
        ref(host, repo, "arm64"),
    )
    rig = rig_client(registry_plain)
    assert rig.delete_manifest(repo, images["arm64"].digest).status_code == 202
    before = cli.snapshot()
    proxy.reset()

    result = cli.run("push", "--purge", list_name)

    assert_one_line_error(result, 1, images["arm64"].digest, ref(host, repo, "arm64"))
    # `create` read the same-repo children (and recorded it), so the push trusts that
    # and the registry's own check of the list refuses it: the tag is never written.
    list_puts = [r for r in proxy.requests if r.method == "PUT" and r.path.endswith("/1")]
    assert [r.status for r in list_puts] == [400]
    assert "1" not in rig.list_tags(repo)
    assert cli.snapshot() == before  # --purge keeps the list when the push fails


@pytest.mark.parametrize(
    ("list_format", "media_type"),
    [("auto", DOCKER_LIST), ("docker", DOCKER_LIST), ("oci", OCI_INDEX)],
    ids=["auto", "docker", "oci"],
)
def test_push_format_decides_the_list_media_type(
    cli, registry_plain, repo, rig_client, tmp_path, list_format, media_type
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    local_raw = cli.ok("inspect", "--raw", "--format", list_format, list_name).stdout_bytes

    digest = last_line_digest(cli.ok("push", "--format", list_format, list_name))

    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert served.headers["Content-Type"] == media_type
    assert served.json()["mediaType"] == media_type
    assert served.content == local_raw and sha256(local_raw) == digest
    assert_pullable(list_name, tmp_path)


def test_auto_format_pushes_an_oci_index_when_a_child_is_oci(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "ppc64le"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "ppc64le"))

    last_line_digest(cli.ok("push", list_name))

    assert rig_client(registry_plain).get_manifest(repo, "1").json()["mediaType"] == OCI_INDEX
    assert_pullable(list_name, tmp_path)


def test_docker_format_refuses_annotations_and_pushes_nothing(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))
    cli.ok("annotate", list_name, ref(host, repo, "amd64"), "--annotation", "k=v")

    result = cli.run("push", "--format", "docker", list_name)

    assert_one_line_error(result, 2, "annotations", "--format oci")
    assert "1" not in rig_client(registry_plain).list_tags(repo)


def test_cross_repo_push_mounts_blobs_and_puts_children_by_digest_before_the_list(
    cli, registry_plain, repo, fault_proxy, tmp_path
):
    proxy = fault_proxy(registry_plain)
    source_repo = f"{repo}-src"
    images = push_arches(registry_plain, source_repo, ("amd64", "arm64"))
    list_name = ref(proxy.host, repo, "1")
    cli.ok(
        "create",
        list_name,
        ref(proxy.host, source_repo, "amd64"),
        ref(proxy.host, source_repo, "arm64"),
    )
    proxy.reset()

    pushed = cli.ok("push", list_name)

    digest = last_line_digest(pushed)
    for image in images.values():
        assert f"Pushed ref {proxy.host}/{repo}@{image.digest} with digest: {image.digest}" in (
            pushed.stderr.splitlines()
        )
    log = proxy.requests
    mounts = [r for r in log if r.method == "POST" and "mount" in _query(r)]
    blobs = {b.digest for i in images.values() for b in (i.image.config, i.image.layer)}
    assert {_query(r)["mount"] for r in mounts} == blobs
    for mount in mounts:
        assert mount.path == f"/v2/{repo}/blobs/uploads/"
        assert _query(mount)["from"] == source_repo
        assert mount.status == 201
        head = f"/v2/{repo}/blobs/{_query(mount)['mount']}"  # checked before mounting
        assert any(r.method == "HEAD" and r.path == head for r in log[: log.index(mount)])
    # Nothing copied: the only blobs read are the configs, to check the entries' platforms.
    configs = {i.image.config.digest for i in images.values()}
    read = {r.path.rsplit("/", 1)[-1] for r in log if r.method == "GET" and "/blobs/" in r.path}
    assert read <= configs
    puts = [(i, r.path) for i, r in enumerate(log) if r.method == "PUT"]
    child_puts = {path: i for i, path in puts if "/manifests/sha256:" in path}
    assert set(child_puts) == {f"/v2/{repo}/manifests/{i.digest}" for i in images.values()}
    [list_put] = [i for i, path in puts if path == f"/v2/{repo}/manifests/1"]
    assert max(child_puts.values()) < list_put
    direct = ref(registry_plain.host, repo, "1")
    assert cli.ok("inspect", "--digest", direct).stdout.strip() == digest
    assert_pullable(direct, tmp_path)


def test_a_refused_mount_falls_back_to_copying_the_blob(
    cli, registry_plain, repo, fault_proxy, rig_client, tmp_path
):
    proxy = fault_proxy(registry_plain)
    source_repo = f"{repo}-src"
    image = push_arches(registry_plain, source_repo, ("amd64",))["amd64"]
    list_name = ref(proxy.host, repo, "1")
    cli.ok("create", list_name, ref(proxy.host, source_repo, "amd64"))
    proxy.reset()
    # The first upload POST into the target (the first mount) is answered like a registry
    # that will not mount: 202 with a fresh upload session.
    uploads = f"/v2/{repo}/blobs/uploads/"
    proxy.add_fault(
        lambda method, path: method == "POST" and path == uploads,
        status(202, {"Location": f"{uploads}refused-by-test", "Content-Length": "0"}),
    )

    last_line_digest(cli.ok("push", list_name))

    log = proxy.requests
    refused = next(r for r in log if r.method == "POST")
    assert refused.fault == "status" and "mount" in _query(refused)
    blob = _query(refused)["mount"]
    after = log[log.index(refused) + 1 :]
    # The upload session the refusal opened is cancelled, then the blob is streamed over.
    assert any(r.method == "DELETE" and r.path == f"{uploads}refused-by-test" for r in after)
    assert any(r.method == "GET" and r.path == f"/v2/{source_repo}/blobs/{blob}" for r in after)
    assert any(
        r.method == "PUT" and r.path.startswith(uploads) and _query(r).get("digest") == blob
        for r in after
    )
    rig = rig_client(registry_plain)
    for b in (image.image.config, image.image.layer):
        assert rig.blob_exists(repo, b.digest)
    assert_pullable(ref(registry_plain.host, repo, "1"), tmp_path)


def test_children_from_another_registry_are_copied(
    cli, registry_plain, second_registry_plain, repo, rig_client, tmp_path
):
    other = second_registry_plain.host
    images = push_arches(second_registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(registry_plain.host, repo, "1")
    cli.ok("create", list_name, ref(other, repo, "amd64"), ref(other, repo, "arm64"))

    pushed = cli.ok("push", list_name)

    last_line_digest(pushed)
    pushed_lines = pushed.stderr.splitlines()
    assert len([line for line in pushed_lines if line.startswith("Pushed ref ")]) == 2
    rig = rig_client(registry_plain)
    for image in images.values():
        assert rig.get_manifest(repo, image.digest).content == image.manifest_bytes
        for blob in (image.image.config, image.image.layer):
            assert rig.blob_exists(repo, blob.digest)
    assert_pullable(list_name, tmp_path)


# -- TLS: one policy for create, inspect and push -----------------------------------------


def test_tls_registry_works_with_its_ca_in_certs_dir(cli, registry_tls, repo, tmp_path):
    host = registry_tls.host
    push_arches(registry_tls, repo, ("amd64", "arm64"))
    certs = tmp_path / "certs-with-ca"
    (certs / host).mkdir(parents=True)
    (certs / host / "ca.crt").write_bytes(registry_tls.ca_pem)
    list_name = ref(host, repo, "1")

    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"), certs_dir=certs)
    digest = last_line_digest(cli.ok("push", "--purge", list_name, certs_dir=certs))

    assert cli.ok("inspect", "--digest", list_name, certs_dir=certs).stdout == digest + "\n"
    assert len(cli.ok("inspect", list_name, certs_dir=certs).json()["manifests"]) == 2
    assert_pullable(list_name, tmp_path)


def test_tls_registry_works_with_insecure(cli, registry_tls, repo, tmp_path):
    host = registry_tls.host
    push_arches(registry_tls, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")

    cli.ok("create", "--insecure", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    digest = last_line_digest(cli.ok("push", "--insecure", "--purge", list_name))

    assert cli.ok("inspect", "--insecure", "--digest", list_name).stdout == digest + "\n"
    assert len(cli.ok("inspect", "--insecure", list_name).json()["manifests"]) == 2
    assert_pullable(list_name, tmp_path)


# -- credentials from config.json ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_credentials_from_config_json_let_create_and_push_work(
    request, cli, docker_config, repo, rig_client, tmp_path, kind
):
    registry = request.getfixturevalue(f"registry_{kind}")
    host = registry.host
    images = push_arches(registry, repo, ("amd64", "arm64"))  # pushed with the rig's admin
    docker_config.add_auth(host, "alice", "alice-pw")
    list_name = ref(host, repo, "1")

    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    digest = last_line_digest(cli.ok("push", list_name))

    served = rig_client(registry).get_manifest(repo, "1")
    assert served.headers["Docker-Content-Digest"] == digest
    assert [m["digest"] for m in json.loads(served.content)["manifests"]] == [
        images["amd64"].digest,
        images["arm64"].digest,
    ]
    assert_pullable(list_name, tmp_path, creds=("alice", "alice-pw"))


def test_docker_config_environment_variable_alone_names_the_store_and_credentials(
    docker_config, registry_basic, repo, tmp_path
):
    cli = Cli(docker_config.path, tmp_path / "certs.d", config_flag=False)
    host = registry_basic.host
    push_arches(registry_basic, repo, ("amd64",))
    docker_config.add_auth(host, "alice", "alice-pw")
    list_name = ref(host, repo, "1")

    cli.ok("create", list_name, ref(host, repo, "amd64"))
    assert len(cli.list_dirs()) == 1  # in $DOCKER_CONFIG/manifests
    last_line_digest(cli.ok("push", "--purge", list_name))

    assert cli.list_dirs() == []
    assert_pullable(list_name, tmp_path, creds=("alice", "alice-pw"))
