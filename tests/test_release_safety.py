"""Release safety of `manifestor push`, seen through a logging proxy in front of a real
registry: a re-run with unchanged inputs writes nothing and reads no source manifest or
config (HEADs only), an extra tag is the only thing written when only it is missing, the
tag is read back exactly once after the list PUT (and a read-back that disagrees is an
error), children already proven present are not checked again, and with --format auto a
registry that refuses the list type gets the other one, once."""

from __future__ import annotations

import json
import re

import pytest
from clihelpers import (
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
)
from oneshothelpers import assert_served_list, image_entry, tag_absent, writes
from rig.faultproxy import FaultProxy, ProxiedRequest, drop_header, status
from rig.images import DOCKER_LIST, OCI_INDEX

from manifestor.errors import ManifestInvalidError, ReadBackError
from manifestor.local.keychain import Keychain
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.publish import push_list
from manifestor.ops.release import ReleaseOptions, gather_entries
from manifestor.remote.client import RegistryClient

pytestmark = pytest.mark.integration

OTHER_DIGEST = "sha256:" + "0" * 64
MANIFEST_INVALID = json.dumps(
    {"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid"}]}
).encode()


def manifest_requests(proxy: FaultProxy, repo: str, ident: str | None = None) -> list:
    """(method, identifier) of every request for a manifest of `repo` (optionally only
    for one tag or digest), in order."""
    pattern = re.compile(rf"^/v2/{re.escape(repo)}/manifests/(?P<ident>[^/]+)$")
    found = []
    for request in proxy.requests:
        match = pattern.match(request.path)
        if match and (ident is None or match["ident"] == ident):
            found.append((request.method, match["ident"]))
    return found


def after_last_put(proxy: FaultProxy, repo: str, tag: str) -> list[ProxiedRequest]:
    """The requests the proxy saw after the last PUT of `repo:tag`."""
    path = f"/v2/{repo}/manifests/{tag}"
    puts = [i for i, r in enumerate(proxy.requests) if r.method == "PUT" and r.path == path]
    assert puts, f"no PUT of {path}: {[(r.method, r.path) for r in proxy.requests]}"
    return proxy.requests[puts[-1] + 1 :]


def refuse_list_put(proxy: FaultProxy, repo: str, tag: str) -> None:
    """The next PUT of `repo:tag` gets a registry's 400 MANIFEST_INVALID."""
    proxy.add_fault(
        ("PUT", rf"^/v2/{re.escape(repo)}/manifests/{re.escape(tag)}$"),
        status(400, {"Content-Type": "application/json"}, MANIFEST_INVALID),
    )


def unconfirmed_list_put(proxy: FaultProxy, repo: str, tag: str) -> None:
    """The next PUT of `repo:tag` is stored, but its reply leaves out Docker-Content-Digest,
    as some registries' replies do: only a read-back can prove what the tag holds."""
    proxy.add_fault(
        ("PUT", rf"^/v2/{re.escape(repo)}/manifests/{re.escape(tag)}$"),
        drop_header("Docker-Content-Digest"),
    )


def misreport_read_back(proxy: FaultProxy, repo: str, tag: str) -> None:
    """The list PUT's reply does not confirm the digest, and the first HEAD of `repo:tag`
    after it answers another digest, as if another writer had moved the tag in between."""
    tag_path = f"/v2/{repo}/manifests/{tag}"
    unconfirmed_list_put(proxy, repo, tag)
    proxy.add_fault(
        lambda method, path: (
            method == "HEAD"
            and path == tag_path
            and any(r.method == "PUT" and r.path == tag_path for r in proxy.requests)
        ),
        status(200, {"Docker-Content-Digest": OTHER_DIGEST, "Content-Type": DOCKER_LIST}),
    )


def put_content_types(proxy: FaultProxy, repo: str, tag: str) -> list[tuple[str, int | None]]:
    path = f"/v2/{repo}/manifests/{tag}"
    return [
        (r.header_values("Content-Type")[0], r.status)
        for r in proxy.requests
        if r.method == "PUT" and r.path == path
    ]


def sources_in(host: str, repo: str, names: tuple[str, ...]) -> list[str]:
    return [ref(host, repo, name) for name in names]


# -- a re-run writes nothing ----------------------------------------------------------------


def test_second_identical_one_shot_push_sends_only_heads_and_one_read_of_the_list(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    src = f"{repo}-src"  # another repository: the first push mounts and PUTs the children
    push_arches(registry_plain, src, ("amd64", "arm64"))
    args = ("push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, src, ("amd64", "arm64")))
    first = cli.ok(*args)
    digest = last_line_digest(first)
    assert "unchanged" not in first.stderr
    assert writes(proxy), "the first push must have written something"
    proxy.reset()

    second = cli.ok(*args)

    assert second.stdout == digest + "\n"
    assert "unchanged" in second.stderr
    assert writes(proxy) == []
    assert not [r for r in proxy.requests if "/blobs/" in r.path], "no blob may be touched"
    reads = [(r.method, r.path) for r in proxy.requests if r.method != "HEAD"]
    ping = ("GET", "/v2/")
    list_reads = [r for r in reads if r != ping]
    assert len(list_reads) <= 1, reads
    assert all(
        path in (f"/v2/{repo}/manifests/1.0", f"/v2/{repo}/manifests/{digest}")
        for _, path in list_reads
    ), reads
    # The sources were looked at, by HEAD only.
    assert {("HEAD", "amd64"), ("HEAD", "arm64")} <= set(manifest_requests(proxy, src))
    assert all(method == "HEAD" for method, _ in manifest_requests(proxy, src))


def test_second_push_of_a_stored_list_writes_nothing_and_reports_unchanged(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    src = f"{repo}-src"
    push_arches(registry_plain, src, ("amd64", "arm64"))
    target = ref(proxy.host, repo, "1.0")
    cli.ok("create", target, *sources_in(proxy.host, src, ("amd64", "arm64")))
    digest = last_line_digest(cli.ok("push", target))
    proxy.reset()

    again = cli.ok("push", target)

    assert again.stdout == digest + "\n"
    assert "unchanged" in again.stderr
    assert writes(proxy) == []
    assert {r.method for r in proxy.requests} <= {"HEAD", "GET"}
    assert [(r.method, r.path) for r in proxy.requests if r.method == "GET"] in (
        [],
        [("GET", "/v2/")],
    )


def test_extra_tag_missing_the_list_gets_the_only_put(
    cli, registry_plain, repo, fault_proxy, rig_client
):
    proxy = fault_proxy(registry_plain)
    src = f"{repo}-src"
    images = push_arches(registry_plain, src, ("amd64", "arm64"))
    sources = sources_in(proxy.host, src, ("amd64", "arm64"))
    target = ref(proxy.host, repo, "1.0")
    digest = last_line_digest(cli.ok("push", target, *sources))
    proxy.reset()

    result = cli.ok("push", target, *sources, "--tag", "latest")

    assert result.stdout_lines[-1] == digest
    assert "unchanged" not in result.stderr
    assert [(r.method, r.path) for r in writes(proxy)] == [("PUT", f"/v2/{repo}/manifests/latest")]
    rig = rig_client(registry_plain)
    for tag in ("1.0", "latest"):
        assert_served_list(
            rig,
            repo,
            tag,
            digest=digest,
            media_type=DOCKER_LIST,
            manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
        )


def test_removing_an_entry_annotation_from_the_spec_is_published_not_reported_unchanged(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    spec = tmp_path / "release.yaml"

    def write_spec(note: bool) -> None:
        extra = "\n    annotations: {org.example.note: hello}" if note else ""
        spec.write_text(
            f"image: {ref(host, repo, '1.0')}\n"
            "manifests:\n"
            f"  - image: {ref(host, repo, 'amd64')}{extra}\n"
            f"  - image: {ref(host, repo, 'arm64')}\n"
        )

    write_spec(note=True)
    annotated = last_line_digest(cli.ok("push", "--spec", str(spec)))
    write_spec(note=False)

    result = cli.ok("push", "--spec", str(spec))

    plain = last_line_digest(result)
    assert plain != annotated, f"the list without the annotation was not published:\n{result}"
    assert "unchanged" not in result.stderr
    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.0",
        digest=plain,
        media_type=DOCKER_LIST,
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
    )


# -- read-back --------------------------------------------------------------------------------


def test_a_list_put_confirmed_by_its_digest_needs_no_read_back(
    cli, registry_plain, repo, fault_proxy, rig_client
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))

    digest = last_line_digest(
        cli.ok(
            "push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, repo, ("amd64", "arm64"))
        )
    )

    put = [r for r in proxy.requests if r.method == "PUT" and r.path.endswith("/manifests/1.0")]
    assert [r.status for r in put] == [201]
    assert after_last_put(proxy, repo, "1.0") == []
    served = rig_client(registry_plain).get_manifest(repo, "1.0")
    assert served.headers["Docker-Content-Digest"] == digest


def test_an_unconfirmed_list_put_is_read_back_once_with_a_head(
    cli, registry_plain, repo, fault_proxy, rig_client
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    unconfirmed_list_put(proxy, repo, "1.0")

    digest = last_line_digest(
        cli.ok(
            "push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, repo, ("amd64", "arm64"))
        )
    )

    assert put_content_types(proxy, repo, "1.0") == [(DOCKER_LIST, 201)]
    later = after_last_put(proxy, repo, "1.0")
    assert [(r.method, r.path, r.status) for r in later] == [
        ("HEAD", f"/v2/{repo}/manifests/1.0", 200)
    ]
    served = rig_client(registry_plain).get_manifest(repo, "1.0")
    assert served.headers["Docker-Content-Digest"] == digest


def test_a_read_back_giving_another_digest_is_a_one_line_error(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    misreport_read_back(proxy, repo, "1.0")

    result = cli.run(
        "push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, repo, ("amd64", "arm64"))
    )

    assert_one_line_error(result, 1, "read-back", OTHER_DIGEST)
    assert proxy.faults_left() == 0


def test_library_push_raises_read_back_error_when_the_tag_moves_after_the_put(
    registry_plain, repo, fault_proxy, tmp_path
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    misreport_read_back(proxy, repo, "1.0")
    target = parse_reference(ref(proxy.host, repo, "1.0"))
    release = Release(
        target, tuple(SourceSpec(s) for s in sources_in(proxy.host, repo, ("amd64", "arm64")))
    )
    with RegistryClient(keychain=Keychain(tmp_path / "no-config")) as client:
        entries = gather_entries(client, release, ReleaseOptions())
        with pytest.raises(ReadBackError, match=OTHER_DIGEST):
            push_list(client, target, entries)


def test_children_fetched_from_the_target_repository_are_not_head_checked_again(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))

    cli.ok("push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, repo, ("amd64", "arm64")))

    by_digest = [
        (method, ident)
        for method, ident in manifest_requests(proxy, repo)
        if ident.startswith("sha256:")
    ]
    assert [m for m in by_digest if m[0] == "HEAD"] == []
    assert ("PUT", images["amd64"].digest) not in by_digest


def test_push_of_a_stored_list_trusts_the_children_create_read_from_the_target_repository(
    cli, registry_plain, repo, fault_proxy
):
    """`create` records the repository it read each entry from; a push into that
    repository needs no HEAD for it (issue 11's round-trip budget)."""
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    target = ref(proxy.host, repo, "1.0")
    cli.ok("create", target, *sources_in(proxy.host, repo, ("amd64", "arm64")))
    proxy.reset()

    cli.ok("push", target)

    heads = [
        i for m, i in manifest_requests(proxy, repo) if m == "HEAD" and i.startswith("sha256:")
    ]
    assert heads == []


def test_push_of_a_stored_list_checks_children_no_run_has_read(
    cli, registry_plain, repo, fault_proxy
):
    """Entries without manifestor's record (a list docker made) are HEAD-checked."""
    proxy = fault_proxy(registry_plain)
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    target = ref(proxy.host, repo, "1.0")
    cli.ok("create", target, *sources_in(proxy.host, repo, ("amd64", "arm64")))
    for entry in (cli.config_dir / "manifests").rglob("*"):
        if entry.is_file() and "manifestorReadFrom" in entry.read_text():
            body = json.loads(entry.read_text())
            del body["manifestorReadFrom"]
            entry.write_text(json.dumps(body))
    proxy.reset()

    cli.ok("push", target)

    heads = [
        i for m, i in manifest_requests(proxy, repo) if m == "HEAD" and i.startswith("sha256:")
    ]
    assert sorted(heads) == sorted([images["amd64"].digest, images["arm64"].digest])


# -- list-type fallback ------------------------------------------------------------------------


def test_auto_format_pushes_an_oci_index_once_when_the_registry_refuses_a_docker_list(
    cli, registry_plain, repo, fault_proxy, rig_client, tmp_path
):
    proxy = fault_proxy(registry_plain)
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    refuse_list_put(proxy, repo, "1.0")

    result = cli.ok(
        "push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, repo, ("amd64", "arm64"))
    )

    digest = last_line_digest(result)
    assert result.stdout_lines == [digest]
    assert "refused" in result.stderr and OCI_INDEX in result.stderr, result.stderr
    assert put_content_types(proxy, repo, "1.0") == [(DOCKER_LIST, 400), (OCI_INDEX, 201)]
    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1.0",
        digest=digest,
        media_type=OCI_INDEX,
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
    )
    assert_pullable(ref(registry_plain.host, repo, "1.0"), tmp_path)


def test_format_docker_does_not_retry_a_refused_list(
    cli, registry_plain, repo, fault_proxy, rig_client
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    refuse_list_put(proxy, repo, "1.0")

    result = cli.run(
        "push",
        "--format",
        "docker",
        ref(proxy.host, repo, "1.0"),
        *sources_in(proxy.host, repo, ("amd64", "arm64")),
    )

    assert_one_line_error(result, 1, "manifest invalid")
    assert put_content_types(proxy, repo, "1.0") == [(DOCKER_LIST, 400)]
    assert tag_absent(rig_client(registry_plain), repo, "1.0")


def test_library_fallback_is_off_for_an_explicit_format(
    registry_plain, repo, fault_proxy, tmp_path
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64",))
    refuse_list_put(proxy, repo, "1.0")
    target = parse_reference(ref(proxy.host, repo, "1.0"))
    release = Release(target, (SourceSpec(ref(proxy.host, repo, "amd64")),))
    with RegistryClient(keychain=Keychain(tmp_path / "no-config")) as client:
        entries = gather_entries(client, release, ReleaseOptions())
        with pytest.raises(ManifestInvalidError):
            push_list(client, target, entries, list_format="docker")


def test_rerun_against_a_registry_that_refuses_docker_lists_is_unchanged(
    cli, registry_plain, repo, fault_proxy
):
    """After a fallback the tag holds the OCI index; the same inputs again must find
    that and write nothing, not PUT a Docker list the registry refuses every time."""
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    args = ("push", ref(proxy.host, repo, "1.0"), *sources_in(proxy.host, repo, ("amd64", "arm64")))
    refuse_list_put(proxy, repo, "1.0")
    digest = last_line_digest(cli.ok(*args))
    proxy.reset()
    refuse_list_put(proxy, repo, "1.0")  # the registry still refuses Docker lists

    again = cli.ok(*args)

    assert again.stdout_lines[-1] == digest
    assert writes(proxy) == [], [(r.method, r.path, r.status) for r in writes(proxy)]
    assert "unchanged" in again.stderr


def test_fallback_of_a_stored_list_push_is_reported_on_stderr_not_stdout(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    target = ref(proxy.host, repo, "1.0")
    cli.ok("create", target, *sources_in(proxy.host, repo, ("amd64", "arm64")))
    refuse_list_put(proxy, repo, "1.0")

    result = cli.ok("push", target)

    assert put_content_types(proxy, repo, "1.0") == [(DOCKER_LIST, 400), (OCI_INDEX, 201)]
    assert "refused" in result.stderr, str(result)
    assert "refused" not in result.stdout, str(result)
