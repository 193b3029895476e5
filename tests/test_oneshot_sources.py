"""One-shot `manifestor push TARGET SOURCE...` from every kind of source: tags and digests,
`SOURCE=os/arch` overrides, name templates, buildx indexes with attestations, OCI layout
directories, OCI and docker archives, and images in another repository or registry.

Each pushed list is read back raw (exact entries, in order, media type, annotations) and
pulled with `skopeo copy --all`."""

from __future__ import annotations

import pytest
from clihelpers import (
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
)
from oneshothelpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    assert_served_list,
    entry,
    image_entry,
    layout_blob_digests,
    layout_copy,
    layout_entry,
    query,
    run_in,
    sha256,
    tag_absent,
    write_buildx_layout,
    write_docker_archive,
    write_oci_archive,
    writes,
)
from rig.images import DOCKER_LIST, make_image, push_image, push_index

pytestmark = pytest.mark.integration


# -- images in the registry, by tag, digest, template ---------------------------------------


def test_sources_by_tag_and_by_digest_become_entries_in_the_order_given(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    target = ref(host, repo, "1.0")

    result = cli.ok(
        "push",
        target,
        ref(host, repo, "armv7"),
        f"{host}/{repo}@{images['amd64'].digest}",
        ref(host, repo, "arm64"),
    )

    digest = last_line_digest(result)
    assert result.stdout_lines == [digest]
    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.0",
        digest=digest,
        media_type=DOCKER_LIST,  # every child is a Docker manifest, no annotations
        manifests=[image_entry(images[n]) for n in ("armv7", "amd64", "arm64")],
    )
    assert cli.list_dirs() == []  # a one-shot push never touches the local store
    assert_pullable(target, tmp_path)


def test_a_stated_platform_is_normalised_and_completes_what_the_config_leaves_out(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    amd64 = push_image(registry_plain, repo, "amd64", make_image("linux", "amd64"))
    # Many arm64 images have no "variant" in their config.
    arm64 = push_image(
        registry_plain, repo, "arm64", make_image("linux", "arm64", layer_text="no variant")
    )
    assert "variant" not in arm64.platform

    result = cli.ok(
        "push",
        ref(host, repo, "1"),
        ref(host, repo, "amd64") + "=linux/x86_64",
        ref(host, repo, "arm64") + "=linux/aarch64/v8",
    )

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[
            image_entry(amd64, {"architecture": "amd64", "os": "linux"}),
            image_entry(arm64, {"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ],
    )
    assert_pullable(ref(host, repo, "1"), tmp_path)


def test_template_and_platforms_name_one_source_per_platform(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    # CI jobs tag per arch as 1.4-amd64, 1.4-arm64v8, 1.4-armv7.
    for name, tag in (("amd64", "1.4-amd64"), ("arm64", "1.4-arm64v8"), ("armv7", "1.4-armv7")):
        push_image(registry_plain, repo, tag, images[name].image)

    result = cli.ok(
        "push",
        ref(host, repo, "1.4"),
        "--template",
        f"{host}/{repo}:1.4-ARCHVARIANT",
        "--platforms",
        "linux/arm/v7,linux/amd64,linux/arm64/v8",
    )

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.4",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images[n]) for n in ("armv7", "amd64", "arm64")],
    )
    assert_pullable(ref(host, repo, "1.4"), tmp_path)


def test_ignore_missing_leaves_out_a_template_source_that_does_not_exist(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    template = ["--template", f"{host}/{repo}:ARCH", "--platforms"]
    platforms = "linux/amd64,linux/s390x,linux/arm64/v8"  # no s390x image was built
    rig = rig_client(registry_plain)

    failed = cli.run("push", ref(host, repo, "1"), *template, platforms)
    assert_one_line_error(failed, 1, ref(host, repo, "s390x"))
    assert tag_absent(rig, repo, "1")

    result = cli.ok("push", ref(host, repo, "1"), *template, platforms, "--ignore-missing")

    assert ref(host, repo, "s390x") in result.stderr  # says what it skipped
    assert_served_list(
        rig,
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
    )
    assert_pullable(ref(host, repo, "1"), tmp_path)


# -- a buildx index as the source -----------------------------------------------------------


@pytest.fixture
def buildx_index(registry_plain, repo):
    """`buildx build --push --platform linux/amd64,linux/arm64` output in `<repo>-build`:
    an OCI index of two images and their two `unknown/unknown` attestations."""
    build_repo = f"{repo}-build"
    images = push_arches(registry_plain, build_repo, ("amd64", "arm64"))
    index = push_index(registry_plain, build_repo, "1.4", list(images.values()), attestation=True)
    return ref(registry_plain.host, build_repo, "1.4"), images, index.manifest["manifests"]


def test_a_buildx_index_contributes_its_images_and_drops_attestations_by_default(
    cli, registry_plain, repo, rig_client, buildx_index, tmp_path
):
    source, images, _ = buildx_index
    target = ref(registry_plain.host, repo, "1.4")

    result = cli.ok("push", target, source)

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.4",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
    )
    assert_pullable(target, tmp_path)


def test_attestations_keep_carries_the_attestation_entries_with_their_annotations(
    cli, registry_plain, repo, rig_client, buildx_index, tmp_path
):
    source, _, index_entries = buildx_index
    target = ref(registry_plain.host, repo, "1.4")
    assert [e.get("annotations", {}).get("vnd.docker.reference.type") for e in index_entries] == [
        None,
        None,
        "attestation-manifest",
        "attestation-manifest",
    ]

    result = cli.ok("push", target, source, "--attestations", "keep")

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.4",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,  # entry annotations need an OCI index
        manifests=index_entries,
    )
    assert_pullable(target, tmp_path)


def test_platform_filter_takes_only_the_named_children_of_a_buildx_index(
    cli, registry_plain, repo, rig_client, buildx_index, tmp_path
):
    source, images, _ = buildx_index
    target = ref(registry_plain.host, repo, "1.4")

    result = cli.ok("push", target, source, "--platform", "linux/arm64")

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.4",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["arm64"])],
    )
    assert_pullable(target, tmp_path)


def test_kept_attestations_follow_the_platform_filter(
    cli, registry_plain, repo, rig_client, buildx_index
):
    """An attestation is about one image: with `--platform linux/arm64` only the arm64
    image's attestation belongs in the list, not the one about the amd64 image."""
    source, images, index_entries = buildx_index
    [arm64_attestation] = [
        e
        for e in index_entries
        if e.get("annotations", {}).get("vnd.docker.reference.digest") == images["arm64"].digest
    ]

    result = cli.ok(
        "push",
        ref(registry_plain.host, repo, "1.4"),
        source,
        "--platform",
        "linux/arm64",
        "--attestations",
        "keep",
    )

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.4",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[image_entry(images["arm64"]), arm64_attestation],
    )


def test_a_stated_platform_picks_that_child_of_a_source_index(
    cli, registry_plain, repo, rig_client, buildx_index
):
    source, images, _ = buildx_index
    amd64 = push_arches(registry_plain, repo, ("amd64",))["amd64"]

    result = cli.ok(
        "push",
        ref(registry_plain.host, repo, "1.4"),
        ref(registry_plain.host, repo, "amd64"),
        source + "=linux/arm64/v8",
    )

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.4",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(amd64), image_entry(images["arm64"])],
    )


# -- images on disk --------------------------------------------------------------------------


def test_oci_layout_directories_are_pushed_by_digest_from_oci_prefix_and_relative_path(
    cli, registry_plain, repo, rig_client, tmp_path
):
    work = tmp_path / "work"
    amd64 = layout_copy("linux-amd64", work / "build" / "amd64")
    arm64 = layout_copy("linux-arm64-v8", work / "arm64")
    target = ref(registry_plain.host, repo, "1")

    result = run_in(cli, work, "push", target, f"oci:{amd64}", "./arm64")

    assert result.returncode == 0, str(result)
    rig = rig_client(registry_plain)
    assert_served_list(
        rig,
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,  # the children are OCI manifests
        manifests=[layout_entry(amd64), layout_entry(arm64)],
    )
    assert rig.list_tags(repo) == ["1"]  # by digest: no intermediate tags
    for layout in (amd64, arm64):
        for digest in layout_blob_digests(layout):
            assert rig.blob_exists(repo, digest)
    assert_pullable(target, tmp_path)


def test_a_buildx_oci_layout_gives_its_images_and_honours_the_platform_filter(
    cli, registry_plain, repo, rig_client, tmp_path
):
    layout = tmp_path / "buildx-out"
    children = write_buildx_layout(layout)
    rig = rig_client(registry_plain)

    everything = cli.ok("push", ref(registry_plain.host, repo, "all"), f"oci:{layout}")
    arm_only = cli.ok(
        "push", ref(registry_plain.host, repo, "arm"), f"oci:{layout}", "--platform", "linux/arm64"
    )

    assert_served_list(
        rig,
        repo,
        "all",
        digest=last_line_digest(everything),
        media_type=OCI_INDEX,
        manifests=children[:2],  # the attestation is dropped
    )
    assert_served_list(
        rig,
        repo,
        "arm",
        digest=last_line_digest(arm_only),
        media_type=OCI_INDEX,
        manifests=children[1:2],
    )
    assert_pullable(ref(registry_plain.host, repo, "all"), tmp_path)


def test_an_oci_archive_is_read_like_its_directory_next_to_a_registry_source(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    amd64 = push_arches(registry_plain, repo, ("amd64",))["amd64"]
    layout = layout_copy("linux-arm-v7", tmp_path / "armv7")
    archive = write_oci_archive(layout, tmp_path / "armv7.tar")

    result = cli.ok(
        "push", ref(host, repo, "1"), ref(host, repo, "amd64"), f"oci-archive:{archive}"
    )

    rig = rig_client(registry_plain)
    assert_served_list(
        rig,
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[image_entry(amd64), layout_entry(layout)],
    )
    assert sorted(rig.list_tags(repo)) == ["1", "amd64"]
    assert_pullable(ref(host, repo, "1"), tmp_path)


@pytest.mark.parametrize("gzipped", [False, True], ids=["tar", "tar.gz"])
def test_a_docker_archive_becomes_an_oci_manifest_with_its_uncompressed_layer(
    cli, registry_plain, repo, rig_client, tmp_path, gzipped
):
    image = make_image("linux", "s390x", layer_text="saved by docker save")
    archive = tmp_path / ("saved.tar.gz" if gzipped else "saved.tar")
    layer_tar = write_docker_archive(image, archive, gzipped=gzipped)
    target = ref(registry_plain.host, repo, "1")

    result = cli.ok("push", target, f"docker-archive:{archive}")

    rig = rig_client(registry_plain)
    [child] = rig.get_manifest(repo, "1").json()["manifests"]
    served_child = rig.get_manifest(repo, child["digest"])
    assert served_child.status_code == 200
    assert sha256(served_child.content) == child["digest"]
    manifest = served_child.json()
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"] == {
        "mediaType": OCI_CONFIG,
        "digest": image.config.digest,
        "size": image.config.size,
    }
    assert manifest["layers"] == [
        {"mediaType": OCI_LAYER_TAR, "digest": sha256(layer_tar), "size": len(layer_tar)}
    ]
    assert rig.get_blob(repo, image.config.digest).content == image.config.data
    assert rig.get_blob(repo, sha256(layer_tar)).content == layer_tar
    assert_served_list(
        rig,
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[entry(OCI_MANIFEST, child["digest"], len(served_child.content), image.platform)],
    )
    assert rig.list_tags(repo) == ["1"]
    assert_pullable(target, tmp_path)


def test_a_missing_local_source_is_a_usage_error(cli, registry_plain, repo, rig_client, tmp_path):
    result = cli.run("push", ref(registry_plain.host, repo, "1"), f"oci:{tmp_path / 'nothing'}")

    assert_one_line_error(result, 2, str(tmp_path / "nothing"))
    assert tag_absent(rig_client(registry_plain), repo, "1")


# -- children from elsewhere ----------------------------------------------------------------


def test_children_from_another_repository_of_the_registry_are_mounted(
    cli, registry_plain, repo, fault_proxy, rig_client, tmp_path
):
    proxy = fault_proxy(registry_plain)
    source_repo = f"{repo}-src"
    images = push_arches(registry_plain, source_repo, ("amd64", "arm64"))
    proxy.reset()

    result = cli.ok(
        "push",
        ref(proxy.host, repo, "1"),
        ref(proxy.host, source_repo, "amd64"),
        ref(proxy.host, source_repo, "arm64"),
    )

    log = proxy.requests
    blobs = {b.digest for i in images.values() for b in (i.image.config, i.image.layer)}
    mounts = [r for r in log if r.method == "POST" and "mount" in query(r)]
    assert {query(r)["mount"] for r in mounts} == blobs
    for mount in mounts:
        assert mount.path == f"/v2/{repo}/blobs/uploads/"
        assert query(mount)["from"] == source_repo
        assert mount.status == 201
    layers = {i.image.layer.digest for i in images.values()}
    assert not [r for r in log if r.method == "GET" and r.path.split("/")[-1] in layers]
    assert not [r for r in log if r.method in ("PUT", "PATCH") and "/blobs/uploads/" in r.path]
    puts = [r.path for r in log if r.method == "PUT"]
    assert puts[-1] == f"/v2/{repo}/manifests/1"  # the list last, after its children
    assert sorted(puts[:-1]) == sorted(f"/v2/{repo}/manifests/{i.digest}" for i in images.values())
    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
    )
    assert_pullable(ref(registry_plain.host, repo, "1"), tmp_path)


def test_children_from_another_registry_are_streamed_across(
    cli, registry_plain, second_registry_plain, repo, fault_proxy, rig_client, tmp_path
):
    source_proxy = fault_proxy(second_registry_plain)
    target_proxy = fault_proxy(registry_plain)
    images = push_arches(second_registry_plain, repo, ("amd64", "arm64"))

    result = cli.ok(
        "push",
        ref(target_proxy.host, repo, "1"),
        ref(source_proxy.host, repo, "amd64"),
        ref(source_proxy.host, repo, "arm64"),
    )

    blobs = {b.digest for i in images.values() for b in (i.image.config, i.image.layer)}
    fetched = {
        r.path.rsplit("/", 1)[-1]
        for r in source_proxy.requests
        if r.method == "GET" and "/blobs/" in r.path and r.status == 200
    }
    assert fetched == blobs  # every blob read from the source registry
    assert writes(source_proxy) == []
    target_log = target_proxy.requests
    uploaded = {query(r).get("digest") for r in target_log if r.method == "PUT"}
    assert blobs <= uploaded  # ... and uploaded to the target
    assert not [r for r in target_log if r.method == "POST" and "mount" in query(r)]
    puts = [r.path for r in target_log if r.method == "PUT" and "/manifests/" in r.path]
    assert puts[-1] == f"/v2/{repo}/manifests/1"
    rig = rig_client(registry_plain)
    for image in images.values():
        assert rig.get_manifest(repo, image.digest).content == image.manifest_bytes
        assert rig.get_blob(repo, image.image.layer.digest).content == image.image.layer.data
    assert_served_list(
        rig,
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
    )
    assert_pullable(ref(registry_plain.host, repo, "1"), tmp_path)


def test_one_list_mixes_a_remote_registry_a_layout_and_both_archive_kinds(
    cli, registry_plain, second_registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    remote = push_arches(second_registry_plain, repo, ("amd64",))["amd64"]
    arm64 = layout_copy("linux-arm64-v8", tmp_path / "arm64")
    armv7 = layout_copy("linux-arm-v7", tmp_path / "armv7")
    s390x = make_image("linux", "s390x", layer_text="mixed")
    write_docker_archive(s390x, tmp_path / "s390x.tar")

    result = cli.ok(
        "push",
        ref(host, repo, "1"),
        ref(second_registry_plain.host, repo, "amd64"),
        f"oci:{arm64}",
        f"oci-archive:{write_oci_archive(armv7, tmp_path / 'armv7.tar')}",
        f"docker-archive:{tmp_path / 's390x.tar'}",
    )

    rig = rig_client(registry_plain)
    saved = rig.get_manifest(repo, "1").json()["manifests"][-1]
    saved_child = rig.get_manifest(repo, saved["digest"])
    assert saved_child.status_code == 200
    assert saved_child.json()["config"]["digest"] == s390x.config.digest
    assert_served_list(
        rig,
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[
            image_entry(remote),
            layout_entry(arm64),
            layout_entry(armv7),
            entry(OCI_MANIFEST, saved["digest"], len(saved_child.content), s390x.platform),
        ],
    )
    assert rig.list_tags(repo) == ["1"]
    assert_pullable(ref(host, repo, "1"), tmp_path)


def test_with_credentials_children_are_mounted_in_a_token_registry_and_copied_from_basic(
    cli,
    docker_config,
    registry_token,
    registry_basic,
    token_server,
    repo,
    fault_proxy,
    rig_client,
    tmp_path,
):
    proxy = fault_proxy(registry_token)
    amd64 = push_arches(registry_token, f"{repo}-src", ("amd64",))["amd64"]
    arm64 = push_arches(registry_basic, repo, ("arm64",))["arm64"]
    docker_config.add_auth(proxy.host, "alice", "alice-pw")
    docker_config.add_auth(registry_basic.host, "alice", "alice-pw")
    token_server.reset()
    proxy.reset()

    result = cli.ok(
        "push",
        ref(proxy.host, repo, "1"),
        ref(proxy.host, f"{repo}-src", "amd64"),
        ref(registry_basic.host, repo, "arm64"),
    )

    mounted = {
        query(r)["mount"]
        for r in proxy.requests
        if r.method == "POST" and "mount" in query(r) and r.status == 201
    }
    assert mounted == {amd64.image.config.digest, amd64.image.layer.digest}
    # The mount's token names the source repository as well as the target.
    assert any(
        f"repository:{repo}-src:pull" in r.scopes
        and any(s.startswith(f"repository:{repo}:") and "push" in s for s in r.scopes)
        for r in token_server.requests
    ), token_server.requests
    uploaded = {query(r).get("digest") for r in proxy.requests if r.method == "PUT"}
    assert {arm64.image.config.digest, arm64.image.layer.digest} <= uploaded
    assert_served_list(
        rig_client(registry_token),
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=DOCKER_LIST,
        manifests=[image_entry(amd64), image_entry(arm64)],
    )
    assert_pullable(ref(registry_token.host, repo, "1"), tmp_path, creds=("alice", "alice-pw"))
