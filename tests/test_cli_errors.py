"""Every user mistake and every registry failure ends the same way: ONE line on stderr
starting with `manifestor: error:`, exit 1 (operational) or 2 (usage), no traceback, and the
local store exactly as it was (a snapshot of the store directory before and after)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clihelpers import (
    Cli,
    assert_one_line_error,
    assert_pullable,
    last_line_digest,
    make_cli,
    push_arches,
    ref,
)
from rig.images import make_image, push_image
from rig.registry import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seed_template(tmp_path_factory: pytest.TempPathFactory, registry_plain) -> Path:
    """A Docker config directory whose store holds one good list, made once per module."""
    host, repo = registry_plain.host, "cli/errors-seed"
    push_arches(registry_plain, repo, ("amd64",))
    cli = make_cli(tmp_path_factory.mktemp("seed"))
    cli.ok("create", ref(host, repo, "seed"), ref(host, repo, "amd64"))
    return cli.config_dir


@pytest.fixture
def seeded(cli: Cli, seed_template: Path, registry_plain) -> tuple[str, str]:
    """This test's store holds one good list: (list name, its one source)."""
    shutil.copytree(seed_template, cli.config_dir, dirs_exist_ok=True)
    host, repo = registry_plain.host, "cli/errors-seed"
    return ref(host, repo, "seed"), ref(host, repo, "amd64")


# -- usage mistakes (exit 2) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["create", "Foo/Bar", "{source}"],
        ["create", "{list}-2", "Foo/Bar"],
        ["annotate", "{list}", "Foo/Bar", "--arch", "arm64"],
        ["inspect", "Foo/Bar"],
        ["inspect", "{list}", "Foo/Bar"],
        ["push", "Foo/Bar"],
        ["rm", "{list}", "Foo/Bar"],  # nothing is removed when one name is bad
    ],
    ids=["create-list", "create-source", "annotate", "inspect", "inspect-two", "push", "rm"],
)
def test_bad_reference_is_a_one_line_usage_error(cli, seeded, args):
    list_name, source = seeded
    before = cli.snapshot()

    result = cli.run(*(a.format(list=list_name, source=source) for a in args))

    assert_one_line_error(result, 2, "Foo/Bar", "lowercase")
    assert cli.snapshot() == before


@pytest.mark.parametrize("platform", ["linux/", "linux/arm64/v8/extra", "linux/ARM 64", "amd"])
def test_bad_platform_is_a_one_line_usage_error(cli, seeded, platform):
    list_name, source = seeded
    before = cli.snapshot()

    result = cli.run("create", f"{list_name}-2", source, "--platform", platform)

    assert_one_line_error(result, 2, "platform", platform)
    assert cli.snapshot() == before


@pytest.mark.parametrize(
    "args",
    [
        ["create", "{list}"],
        ["annotate", "{list}"],
        ["inspect"],
        ["inspect", "a", "b", "c"],
        ["push"],
        ["rm"],
        ["push", "--bogus", "{list}"],
        ["push", "--format", "v1", "{list}"],
        ["inspect", "--format", "v1", "{list}"],
        ["inspect", "--format", "v1", "{source}"],  # a remote image: still checked
        ["annotate", "{list}", "{source}", "--annotation", "no-equals-sign"],
        ["annotate", "{list}", "{source}", "--unset", "os"],
        ["frobnicate"],
    ],
    ids=lambda args: "-".join(a.strip("-{}") for a in args),
)
def test_command_line_mistakes_are_one_line_usage_errors(cli, seeded, args):
    list_name, source = seeded
    before = cli.snapshot()

    result = cli.run(*(a.format(list=list_name, source=source) for a in args))

    assert_one_line_error(result, 2)
    assert cli.snapshot() == before


# -- local store mistakes (exit 1) ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["push", "{missing}"],
        ["annotate", "{missing}", "{source}", "--arch", "arm64"],
        ["inspect", "{missing}", "{source}"],
        ["rm", "{missing}"],
    ],
    ids=["push", "annotate", "inspect-two", "rm"],
)
def test_unknown_list_is_a_one_line_error(cli, seeded, args):
    list_name, source = seeded
    missing = f"{list_name}-missing"
    before = cli.snapshot()

    result = cli.run(*(a.format(missing=missing, source=source) for a in args))

    assert_one_line_error(result, 1, "no such manifest list", missing)
    assert cli.snapshot() == before


def test_unknown_entry_is_a_one_line_error(cli, seeded, registry_plain, repo):
    list_name, _ = seeded
    other = ref(registry_plain.host, repo, "not-in-the-list")
    before = cli.snapshot()

    for result in cli.run_many(
        ["annotate", list_name, other, "--arch", "arm64"], ["inspect", list_name, other]
    ):
        assert_one_line_error(result, 1, other, "does not exist")
    assert cli.snapshot() == before


def test_corrupt_list_is_reported_by_push_and_amend_and_rm_still_removes_it(
    cli, seeded, rig_client, registry_plain, repo
):
    list_name, source = seeded
    [list_dir] = cli.list_dirs()
    [entry] = (cli.store_dir / list_dir).iterdir()
    entry.write_bytes(b"\x00garbage")
    before = cli.snapshot()

    for result in cli.run_many(
        ["push", list_name],
        ["create", "--amend", list_name, source],
        ["annotate", list_name, source, "--arch", "arm64"],
    ):
        assert_one_line_error(result, 1, "corrupt", list_name)
    assert cli.snapshot() == before
    assert "seed" not in rig_client(registry_plain).list_tags("cli/errors-seed")

    cli.ok("rm", list_name)
    assert cli.list_dirs() == []


def test_two_entries_for_one_platform_are_refused_at_push(cli, registry_plain, repo, rig_client):
    host = registry_plain.host
    push_image(registry_plain, repo, "a", make_image("linux", "amd64"))
    push_image(registry_plain, repo, "b", make_image("linux", "amd64", layer_text="other\n"))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "a"), ref(host, repo, "b"))
    before = cli.snapshot()

    result = cli.run("push", list_name)

    assert_one_line_error(result, 2, "linux/amd64", ref(host, repo, "a"), ref(host, repo, "b"))
    assert "1" not in rig_client(registry_plain).list_tags(repo)
    assert cli.snapshot() == before


# -- registry failures (exit 1) ------------------------------------------------------------


def test_missing_source_is_a_one_line_error_naming_it(cli, seeded, registry_plain, repo):
    list_name, source = seeded
    missing = ref(registry_plain.host, repo, "never-pushed")
    before = cli.snapshot()

    for result in cli.run_many(
        ["create", f"{list_name}-2", source, missing],
        ["create", "--amend", list_name, missing],
        ["inspect", missing],
        ["inspect", "--digest", missing],
    ):
        assert_one_line_error(result, 1, missing)
    assert cli.snapshot() == before


def test_unreachable_registry_is_a_one_line_error(cli, seeded, registry_plain, repo):
    list_name, source = seeded
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    down_list = ref(closed, repo, "1")
    cli.ok("create", down_list, source)  # sources elsewhere; the target is down
    before = cli.snapshot()

    # Connection failures are retried with backoff, so run the three side by side.
    results = cli.run_many(
        ["create", f"{list_name}-2", ref(closed, repo, "amd64")],
        ["inspect", ref(closed, repo, "amd64")],
        ["push", down_list],
    )

    for result in results:
        assert_one_line_error(result, 1, closed, absent=["no such manifest", "not found"])
    assert cli.snapshot() == before


def test_tls_registry_without_its_ca_is_reported_as_a_certificate_problem(
    cli, registry_tls, repo, rig_client
):
    host = registry_tls.host
    push_arches(registry_tls, repo, ("amd64",))
    source, list_name = ref(host, repo, "amd64"), ref(host, repo, "1")
    cli.ok("create", "--insecure", list_name, source)  # stored, but pushed without the CA
    before = cli.snapshot()

    for result in cli.run_many(
        ["create", ref(host, repo, "2"), source],
        ["inspect", source],
        ["inspect", "--digest", source],
        ["push", list_name],
    ):
        assert_one_line_error(
            result, 1, "certificate", "--insecure", host, absent=["no such manifest", "not found"]
        )
    assert cli.snapshot() == before
    assert "1" not in rig_client(registry_tls).list_tags(repo)


def test_read_only_user_is_denied_push_in_one_line(
    cli, docker_config, registry_token, repo, rig_client
):
    host = registry_token.host
    push_arches(registry_token, repo, ("amd64", "arm64"))
    docker_config.add_auth(host, "reader", "reader-pw")
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))  # may pull
    before = cli.snapshot()

    result = cli.run("push", "--purge", list_name)

    assert_one_line_error(result, 1, "denied", absent=["reader-pw"])
    assert cli.snapshot() == before
    assert "1" not in rig_client(registry_token).list_tags(repo)


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_wrong_password_is_a_one_line_error(request, cli, docker_config, repo, kind):
    registry = request.getfixturevalue(f"registry_{kind}")
    host = registry.host
    push_arches(registry, repo, ("amd64",))
    docker_config.add_auth(host, "alice", "not-alices-password")

    for result in cli.run_many(
        ["create", ref(host, repo, "1"), ref(host, repo, "amd64")],
        ["inspect", ref(host, repo, "amd64")],
    ):
        assert_one_line_error(result, 1, "password", absent=["not-alices-password"])
    assert cli.snapshot() == {}


def test_push_is_refused_when_the_registry_lost_the_tagged_child(
    cli, registry_plain, repo, rig_client, tmp_path
):
    """A source tag re-pointed after `create`: the stored child is gone from the
    repository, so push names it instead of letting the registry refuse the list."""
    host = registry_plain.host
    old = push_arches(registry_plain, repo, ("amd64",))["amd64"]
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))
    push_arches(registry_plain, repo, ("amd64",), layer_text="rebuilt\n")
    rig = rig_client(registry_plain)
    assert rig.delete_manifest(repo, old.digest).status_code == 202
    before = cli.snapshot()

    result = cli.run("push", list_name)

    assert_one_line_error(result, 1, old.digest, ref(host, repo, "amd64"), "missing")
    assert cli.snapshot() == before
    assert "1" not in rig.list_tags(repo)
    # After a refresh the same list pushes fine.
    cli.ok("create", "--amend", list_name, ref(host, repo, "amd64"))
    last_line_digest(cli.ok("push", list_name))
    assert_pullable(list_name, tmp_path)
