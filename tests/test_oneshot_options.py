"""One-shot `manifestor push` options and refusals: extra tags, index annotations, list
format, --dry-run (seen through a logging proxy: no write reaches the registry), --quiet,
--digest-file, re-runs; duplicate platforms, stated platforms that contradict the image
config, and the one-line error contract for mistakes."""

from __future__ import annotations

import pytest
from clihelpers import (
    DIGEST,
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    push_arches,
    ref,
    repo_for,
)
from oneshothelpers import (
    assert_served_list,
    image_entry,
    layout_copy,
    tag_absent,
    writes,
)
from rig.faultproxy import drop_header, status
from rig.images import DOCKER_LIST, OCI_INDEX, make_image, push_image, push_index

pytestmark = pytest.mark.integration


# -- tags, annotations, format --------------------------------------------------------------


def test_each_extra_tag_gets_the_same_list(cli, registry_plain, repo, rig_client, tmp_path):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))

    result = cli.ok(
        "push",
        ref(host, repo, "1.4.2"),
        ref(host, repo, "amd64"),
        ref(host, repo, "arm64"),
        "--tag",
        "1.4",
        "--tag",
        "latest",
    )

    digest = last_line_digest(result)
    assert result.stdout_lines == [digest]
    rig = rig_client(registry_plain)
    served = {
        tag: assert_served_list(
            rig,
            repo,
            tag,
            digest=digest,
            media_type=DOCKER_LIST,
            manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
        )
        for tag in ("1.4.2", "1.4", "latest")
    }
    assert len(set(served.values())) == 1
    assert rig.list_tags(repo) == sorted(["1.4.2", "1.4", "latest", "amd64", "arm64"])
    assert_pullable(ref(host, repo, "latest"), tmp_path)


def test_index_annotations_make_an_oci_index_that_carries_them(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))

    result = cli.ok(
        "push",
        ref(host, repo, "1"),
        ref(host, repo, "amd64"),
        ref(host, repo, "arm64"),
        "--annotation",
        "org.opencontainers.image.version=1.4.2",
        "--annotation",
        "org.opencontainers.image.description=a=b & <c>",
    )

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,  # although every child is a Docker manifest
        manifests=[image_entry(images["amd64"]), image_entry(images["arm64"])],
        annotations={
            "org.opencontainers.image.version": "1.4.2",
            "org.opencontainers.image.description": "a=b & <c>",
        },
    )
    assert_pullable(ref(host, repo, "1"), tmp_path)


def test_format_docker_with_an_index_annotation_is_a_usage_error_and_writes_nothing(
    cli, registry_plain, repo, fault_proxy, rig_client
):
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, f"{repo}-src", ("amd64",))  # would be mounted

    result = cli.run(
        "push",
        ref(proxy.host, repo, "1"),
        ref(proxy.host, f"{repo}-src", "amd64"),
        "--format",
        "docker",
        "--annotation",
        "k=v",
    )

    assert_one_line_error(result, 2, "annotations")
    assert writes(proxy) == []
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_format_oci_makes_an_index_of_docker_children(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64",))

    result = cli.ok("push", ref(host, repo, "1"), ref(host, repo, "amd64"), "--format", "oci")

    assert_served_list(
        rig_client(registry_plain),
        repo,
        "1",
        digest=last_line_digest(result),
        media_type=OCI_INDEX,
        manifests=[image_entry(images["amd64"])],
    )


# -- dry run, quiet, digest file, re-runs ---------------------------------------------------


def test_dry_run_prints_the_list_and_the_plan_and_sends_no_write(
    cli, registry_plain, repo, fault_proxy, rig_client, tmp_path
):
    proxy = fault_proxy(registry_plain)
    host = proxy.host
    here = push_arches(registry_plain, repo, ("amd64",))["amd64"]
    there = push_arches(registry_plain, f"{repo}-src", ("arm64",))["arm64"]
    layout = layout_copy("linux-arm-v7", tmp_path / "armv7")
    args = (
        "push",
        ref(host, repo, "1"),
        ref(host, repo, "amd64"),
        ref(host, f"{repo}-src", "arm64"),
        f"oci:{layout}",
        "--tag",
        "latest",
    )
    proxy.reset()

    dry = cli.ok(*args, "--dry-run")

    assert writes(proxy) == []
    rig = rig_client(registry_plain)
    assert tag_absent(rig, repo, "1") and tag_absent(rig, repo, "latest")
    assert rig.get_manifest(repo, there.digest).status_code == 404  # no child copied either
    assert cli.list_dirs() == []
    shown = dry.json()  # stdout: the list, in `inspect`'s shape
    assert shown["mediaType"] == OCI_INDEX
    assert [m["digest"] for m in shown["manifests"]][:2] == [here.digest, there.digest]
    assert [m["platform"] for m in shown["manifests"]] == [
        here.platform,
        there.platform,
        {"architecture": "arm", "os": "linux", "variant": "v7"},
    ]
    plan = dry.stderr.splitlines()
    assert plan and all(line.startswith("plan: ") for line in plan), dry.stderr
    planned = "\n".join(plan)
    assert f"mount  blob {there.image.layer.digest} from {repo}-src" in planned
    assert f"put    {host}/{repo}@{there.digest}" in planned
    for tag in ("1", "latest"):
        assert f"put    {host}/{repo}:{tag} ({OCI_INDEX}" in planned

    pushed = cli.ok(*args)  # the same command for real

    digest = last_line_digest(pushed)
    assert digest in planned  # the plan named the digest the push then wrote
    assert cli.ok("inspect", ref(host, repo, "1")).stdout == dry.stdout
    assert rig.get_manifest(repo, "latest").headers["Docker-Content-Digest"] == digest


def test_quiet_prints_only_the_digest(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    push_arches(registry_plain, f"{repo}-src", ("amd64", "arm64"))  # children to bring in

    result = cli.ok(
        "push",
        "--quiet",
        ref(host, repo, "1"),
        ref(host, f"{repo}-src", "amd64"),
        ref(host, f"{repo}-src", "arm64"),
    )

    assert DIGEST.match(result.stdout.strip())
    assert result.stdout == result.stdout.strip() + "\n"
    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert served.headers["Docker-Content-Digest"] == result.stdout.strip()
    assert result.stderr == ""  # no "Pushed ref" chatter either


def test_quiet_prints_only_the_digest_when_nothing_changed_either(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    args = ("push", "-q", ref(host, repo, "1"), ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    first = cli.ok(*args)

    again = cli.ok(*args)

    assert again.stdout == first.stdout
    assert DIGEST.match(again.stdout.strip())
    assert again.stderr == ""  # no "unchanged" note under --quiet


def test_digest_file_receives_the_printed_digest(cli, registry_plain, repo, rig_client, tmp_path):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    digest_file = tmp_path / "out" / "digest.txt"
    digest_file.parent.mkdir()

    result = cli.ok(
        "push",
        ref(host, repo, "1"),
        ref(host, repo, "amd64"),
        ref(host, repo, "arm64"),
        "--digest-file",
        str(digest_file),
    )

    digest = last_line_digest(result)
    assert digest_file.read_text() == digest + "\n"
    assert (
        rig_client(registry_plain).get_manifest(repo, "1").headers["Docker-Content-Digest"]
        == digest
    )


def test_pushing_the_same_release_again_changes_nothing_and_says_unchanged(
    cli, registry_plain, repo, fault_proxy
):
    proxy = fault_proxy(registry_plain)
    host = proxy.host
    push_arches(registry_plain, f"{repo}-src", ("amd64", "arm64"))
    args = (
        "push",
        ref(host, repo, "1"),
        ref(host, f"{repo}-src", "amd64"),
        ref(host, f"{repo}-src", "arm64"),
        "--tag",
        "latest",
    )
    first = last_line_digest(cli.ok(*args))
    proxy.reset()

    again = cli.ok(*args)

    assert last_line_digest(again) == first
    assert writes(proxy) == []
    assert "unchanged" in (again.stdout + again.stderr).lower(), str(again)


def test_a_tag_that_does_not_read_back_as_the_pushed_list_fails_the_push(
    cli, registry_plain, repo, fault_proxy
):
    """After a PUT whose reply does not name the digest the tag is read back; a registry
    that does not serve what was just pushed (here: a proxy answering 404 for the tag) is
    an error, not a success."""
    proxy = fault_proxy(registry_plain)
    push_arches(registry_plain, repo, ("amd64",))
    tag_path = f"/v2/{repo}/manifests/1"
    proxy.add_fault(("PUT", f"^{tag_path}$"), drop_header("Docker-Content-Digest"))
    proxy.add_fault(
        lambda method, path: method in ("GET", "HEAD") and path == tag_path,
        status(404, {"Content-Type": "application/json"}, b'{"errors":[]}'),
        times=100,
    )

    result = cli.run("push", ref(proxy.host, repo, "1"), ref(proxy.host, repo, "amd64"))

    assert any(r.method == "PUT" and r.path == tag_path for r in proxy.requests)
    assert_one_line_error(result, 1, ref(proxy.host, repo, "1"))


# -- refusals: duplicate platforms, contradicted platforms -----------------------------------


def test_two_entries_for_one_platform_are_refused_naming_both_sources(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    push_image(registry_plain, repo, "amd64-rebuilt", make_image("linux", "amd64", layer_text="2"))

    result = cli.run(
        "push", ref(host, repo, "1"), ref(host, repo, "amd64"), ref(host, repo, "amd64-rebuilt")
    )

    assert_one_line_error(
        result, 2, "linux/amd64", ref(host, repo, "amd64"), ref(host, repo, "amd64-rebuilt")
    )
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_a_source_index_child_and_a_separate_image_for_one_platform_are_refused(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, f"{repo}-build", ("amd64", "arm64"))
    push_index(registry_plain, f"{repo}-build", "1", list(images.values()))
    push_image(registry_plain, repo, "arm64", make_image("linux", "arm64", "v8", layer_text="x"))

    result = cli.run(
        "push", ref(host, repo, "1"), ref(host, f"{repo}-build", "1"), ref(host, repo, "arm64")
    )

    assert_one_line_error(
        result,
        2,
        "linux/arm64",
        f"{host}/{repo}-build:1@{images['arm64'].digest}",  # the index's arm64 child
        ref(host, repo, "arm64"),
    )
    assert tag_absent(rig_client(registry_plain), repo, "1")


@pytest.mark.parametrize("form", ["override", "template", "spec"])
def test_a_stated_platform_the_config_contradicts_stops_before_any_write(
    cli, registry_plain, repo, fault_proxy, rig_client, tmp_path, form
):
    """An amd64 image pushed under the arm64 tag (built on the wrong runner) must not be
    published as arm64, whichever way the platform was stated."""
    proxy = fault_proxy(registry_plain)
    host = proxy.host
    images = push_arches(registry_plain, f"{repo}-src", ("amd64",))
    push_image(registry_plain, f"{repo}-src", "arm64", images["amd64"].image)  # wrong host
    source = ref(host, f"{repo}-src", "arm64")
    target = ref(host, repo, "1")
    if form == "override":
        args = ["push", target, f"{source}=linux/arm64"]
    elif form == "template":
        args = [
            "push",
            target,
            "--template",
            f"{host}/{repo}-src:ARCH",
            "--platforms",
            "linux/arm64",
        ]
    else:
        spec = tmp_path / "release.yaml"
        spec.write_text(
            f"image: {target}\nmanifests:\n  - image: {source}\n    platform: linux/arm64\n"
        )
        args = ["push", "--spec", str(spec)]
    proxy.reset()

    result = cli.run(*args)

    assert_one_line_error(result, 1, "linux/arm64", "linux/amd64", source)
    assert writes(proxy) == []
    assert tag_absent(rig_client(registry_plain), repo, "1")


# -- mistakes: one line, exit 2 (usage) or 1 (operational), nothing written ------------------


USAGE_MISTAKES = {
    "template-without-platforms": (["--template", "{host}/{repo}:ARCH"], "--platforms"),
    "platforms-without-template": (["--platforms", "linux/amd64"], "--template"),
    "template-without-placeholder": (
        ["--template", "{host}/{repo}:fixed", "--platforms", "linux/amd64"],
        "placeholder",
    ),
    "template-and-sources": (
        ["{host}/{repo}:amd64", "--template", "{host}/{repo}:ARCH", "--platforms", "linux/amd64"],
        "--template",
    ),
    "malformed-platform": (
        ["--template", "{host}/{repo}:ARCH", "--platforms", "linux//arm64"],
        "linux//arm64",
    ),
    "unknown-source-platform": (["{host}/{repo}:amd64=linux/z80"], "z80"),
    "bad-attestations": (["{host}/{repo}:amd64", "--attestations", "maybe"], "--attestations"),
    "bad-format": (["{host}/{repo}:amd64", "--format", "xml"], "--format"),
    "bad-annotation": (["{host}/{repo}:amd64", "--annotation", "novalue"], "KEY=VALUE"),
    "purge": (["{host}/{repo}:amd64", "--purge"], "--purge"),
    "bad-source-name": (["{host}/{repo}:Bad Name"], "Bad Name"),
}


@pytest.mark.parametrize("case", USAGE_MISTAKES, ids=list(USAGE_MISTAKES))
def test_a_usage_mistake_is_one_line_exit_2_and_writes_nothing(
    cli, registry_plain, fault_proxy, request, rig_client, case
):
    proxy = fault_proxy(registry_plain)
    repo = repo_for(request)
    push_arches(registry_plain, repo, ("amd64",))
    extra, fragment = USAGE_MISTAKES[case]
    args = [a.format(host=proxy.host, repo=repo) for a in extra]
    proxy.reset()

    result = cli.run("push", ref(proxy.host, repo, "1"), *args)

    assert_one_line_error(result, 2, fragment)
    assert writes(proxy) == []
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_a_mistyped_platform_in_platforms_is_a_usage_error_even_with_ignore_missing(
    cli, registry_plain, repo, rig_client
):
    """`linux/amr64` is no platform (SPEC 3.1: platforms are parsed the same way
    everywhere; `annotate` checks the os/arch table). It must not turn into a source
    name that --ignore-missing then skips, publishing a list without arm64."""
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))

    result = cli.run(
        "push",
        ref(host, repo, "1"),
        "--template",
        f"{host}/{repo}:ARCH",
        "--platforms",
        "linux/amd64,linux/amr64",
        "--ignore-missing",
    )

    assert_one_line_error(result, 2, "amr64")
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_a_missing_source_is_one_line_exit_1_naming_it(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))

    result = cli.run(
        "push", ref(host, repo, "1"), ref(host, repo, "amd64"), ref(host, repo, "gone")
    )

    assert_one_line_error(result, 1, ref(host, repo, "gone"))
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_ignore_missing_with_every_source_missing_publishes_nothing(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host

    result = cli.run(
        "push",
        ref(host, repo, "1"),
        ref(host, repo, "gone"),
        ref(host, repo, "lost"),
        "--ignore-missing",
    )

    assert result.returncode in (1, 2), str(result)
    message = result.stderr.splitlines()[-1]
    assert message.startswith("manifestor: error: ") and ref(host, repo, "1") in message
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_an_unwritable_digest_file_is_one_line_exit_1(cli, registry_plain, repo, tmp_path):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    missing_dir = tmp_path / "no-such-dir" / "digest.txt"

    result = cli.run(
        "push", ref(host, repo, "1"), ref(host, repo, "amd64"), "--digest-file", str(missing_dir)
    )

    assert result.returncode == 1, str(result)
    [line] = result.stderr.splitlines()
    assert line.startswith("manifestor: error: ") and str(missing_dir) in line, str(result)
