"""What users hit at the command line (issue 10, items 4, 5, 6, 8): one stream per kind of
line, `push --json`, `-q` with `--dry-run`, `inspect --raw --digest`, dry runs that tell
the truth (`--upsert`, `--digest-file`), lists docker created as `ls` shows them, which
digest `inspect --digest` prints, `-h`, shell completion, the hint for a bare path, and
`inspect --format`'s new name."""

from __future__ import annotations

import json
import subprocess

import pytest
from clihelpers import (
    DIGEST,
    assert_one_line_error,
    last_line_digest,
    push_arches,
    ref,
)

from manifestor.local.store import LIST_KEY, ORDER_KEY

pytestmark = pytest.mark.integration


def test_pushed_ref_lines_go_to_stderr_for_a_local_list_as_for_a_one_shot_push(
    cli, registry_plain, second_registry_plain, repo
):
    other = second_registry_plain.host
    push_arches(second_registry_plain, repo, ("amd64", "arm64"))
    sources = [ref(other, repo, "amd64"), ref(other, repo, "arm64")]
    list_name = ref(registry_plain.host, repo, "list")
    cli.ok("create", list_name, *sources)

    from_list = cli.ok("push", list_name)
    one_shot = cli.ok("push", ref(registry_plain.host, f"{repo}-b", "1"), *sources)

    for result in (from_list, one_shot):
        assert len(result.stdout_lines) == 1 and DIGEST.match(result.stdout_lines[0]), result
        pushed = [line for line in result.stderr.splitlines() if line.startswith("Pushed ref ")]
        assert len(pushed) == 2, result
        assert all(line.count("Pushed ref") == 1 for line in pushed), result


def test_push_json_reports_digest_tags_entries_and_whether_it_was_written(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    args = ("push", "--json", "--tag", "stable", ref(host, repo, "1"))
    args += (ref(host, repo, "amd64"), ref(host, repo, "arm64"))

    first = cli.ok(*args)
    again = cli.ok(*args)

    report = first.json()
    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert report["digest"] == served.headers["Docker-Content-Digest"]
    assert report["target"] == ref(host, repo, "1")
    assert report["tags"] == [ref(host, repo, "1"), ref(host, repo, "stable")]
    assert report["status"] == "pushed"
    assert [e["digest"] for e in report["entries"]] == [i.digest for i in images.values()]
    assert report["entries"][1]["platform"]["architecture"] == "arm64"
    unchanged = again.json()
    assert unchanged["status"] == "unchanged" and unchanged["digest"] == report["digest"]
    assert [e["digest"] for e in unchanged["entries"]] == [i.digest for i in images.values()]


def test_push_json_of_a_local_list(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    cli.ok("create", ref(host, repo, "l"), ref(host, repo, "amd64"))

    report = cli.ok("push", "--json", ref(host, repo, "l")).json()

    assert report["status"] == "pushed" and DIGEST.match(report["digest"])


def test_quiet_dry_run_prints_only_the_list_that_would_be_pushed(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    args = ("push", "--dry-run", ref(host, repo, "1"))
    args += (ref(host, repo, "amd64"), ref(host, repo, "arm64"))

    loud = cli.ok(*args)
    quiet = cli.ok("push", "-q", *args[1:])

    assert "plan: " in loud.stderr
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    assert len(json.loads(quiet.stdout)["manifests"]) == 2


def test_inspect_raw_with_digest_is_refused(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))

    result = cli.run("inspect", "--raw", "--digest", ref(host, repo, "amd64"))

    assert_one_line_error(result, 2, "--raw", "--digest")


def test_upsert_dry_run_shows_the_merge_the_real_run_writes(cli, registry_plain, repo):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    target = ref(host, repo, "1")
    cli.ok("push", target, ref(host, repo, "amd64"), ref(host, repo, "arm64"))
    upsert = ("push", "--upsert", target, ref(host, repo, "armv7"))

    dry = cli.ok(*upsert, "--dry-run")
    cli.ok(*upsert)

    planned = [m["digest"] for m in json.loads(dry.stdout)["manifests"]]
    assert planned == [images[a].digest for a in ("amd64", "arm64", "armv7")]
    assert cli.ok("inspect", target).stdout == dry.stdout


def test_digest_file_in_a_missing_folder_is_refused_before_anything_is_written(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    missing = tmp_path / "no-such-folder" / "digest.txt"

    result = cli.run(
        "push", ref(host, repo, "1"), ref(host, repo, "amd64"), "--digest-file", str(missing)
    )

    assert_one_line_error(result, 1, "--digest-file", "does not exist")
    assert rig_client(registry_plain).get_manifest(repo, "1").status_code == 404


def _as_docker_made(cli, list_dir: str) -> None:
    """Strip manifestor's own keys from every entry, as if docker had written the list."""
    for entry in (cli.store_dir / list_dir).iterdir():
        body = json.loads(entry.read_bytes())
        body.pop(LIST_KEY, None)
        body.pop(ORDER_KEY, None)
        entry.write_text(json.dumps(body))


def test_ls_shows_a_docker_made_list_by_a_name_inspect_and_rm_accept(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    # Hyphens in the repository and in the tag: docker's directory name is ambiguous.
    list_name = ref(host, repo, "1.0-rc1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))
    [list_dir] = cli.list_dirs()
    _as_docker_made(cli, list_dir)

    listed = cli.ok("ls").stdout_lines[1].split()[0]

    assert listed == list_name
    assert json.loads(cli.ok("inspect", listed).stdout)["manifests"]
    cli.ok("rm", listed)
    assert cli.list_dirs() == []


def test_inspect_digest_of_a_local_list_says_so_and_remote_asks_the_registry(
    cli, registry_plain, repo, rig_client
):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    list_name = ref(host, repo, "1")
    cli.ok("push", list_name, ref(host, repo, "amd64"))  # the registry's list: amd64 only
    cli.ok("create", list_name, ref(host, repo, "amd64"), ref(host, repo, "arm64"))

    local = cli.ok("inspect", "--digest", list_name)
    remote = cli.ok("inspect", "--digest", "--remote", list_name)

    served = rig_client(registry_plain).get_manifest(repo, "1")
    assert remote.stdout == served.headers["Docker-Content-Digest"] + "\n"
    assert remote.stderr == ""
    assert DIGEST.match(local.stdout.strip()) and local.stdout != remote.stdout
    assert "local list" in local.stderr and "--remote" in local.stderr


def test_dash_h_shows_help_everywhere(cli):
    for args in (["-h"], ["push", "-h"], ["inspect", "-h"]):
        result = cli.ok(*args)
        assert result.stdout.startswith("Usage: "), result
        assert "-h, --help" in result.stdout


def test_shell_completion_is_offered_and_answers(cli):
    assert "--install-completion" in cli.ok("--help").stdout
    env = {**cli.env(), "_MANIFESTOR_COMPLETE": "source_bash"}
    script = subprocess.run(cli.command([]), env=env, capture_output=True, text=True, timeout=60)
    assert "_MANIFESTOR_COMPLETE=complete_bash" in script.stdout, script
    env["_MANIFESTOR_COMPLETE"] = "complete_bash"
    asks = (("manifestor pu", "1", "push"), ("manifestor push --dr", "2", "--dry-run"))
    for words, cword, expected in asks:
        done = subprocess.run(
            cli.command([]),
            env={**env, "COMP_WORDS": words, "COMP_CWORD": cword},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert expected in done.stdout.split(), done


def test_a_bare_path_that_is_no_reference_gets_a_hint(cli, tmp_path, monkeypatch):
    (tmp_path / "MyImg").mkdir()
    monkeypatch.chdir(tmp_path)

    result = cli.run("push", "--dry-run", "localhost:5000/app:1", "MyImg")

    assert_one_line_error(result, 2, "./MyImg", "oci:MyImg")


def test_inspect_media_type_and_its_old_spelling(cli, registry_plain, repo):
    host = registry_plain.host
    push_arches(registry_plain, repo, ("amd64",))
    list_name = ref(host, repo, "1")
    cli.ok("create", list_name, ref(host, repo, "amd64"))

    new = cli.ok("inspect", "--media-type", "oci", list_name)
    old = cli.ok("inspect", "--format", "oci", list_name)

    assert json.loads(new.stdout)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert old.stdout == new.stdout and new.stderr == ""
    assert "--media-type" in old.stderr
    assert "not a Go template" in " ".join(cli.ok("inspect", "--help").stdout.split())
    assert last_line_digest(cli.ok("push", "--format", "oci", list_name))  # push keeps it
