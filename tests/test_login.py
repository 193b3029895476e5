"""`manifestor login` / `logout` against real registries (htpasswd Basic and a Bearer token
server): credentials are checked first, then kept where docker keeps them — `auths` in
config.json (mode 0600) or the configured credential store — and the next manifestor (or
docker) command uses them. CI credentials from MANIFESTOR_USERNAME / MANIFESTOR_PASSWORD
apply only to MANIFESTOR_REGISTRY when that is set."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from clihelpers import (
    Cli,
    CliResult,
    assert_one_line_error,
    last_line_digest,
    push_arches,
    ref,
)
from rig.images import RigClient
from tools import require_tool

pytestmark = pytest.mark.integration

PASSWORDS = {"alice": "alice-pw"}

# A docker-credential helper keeping secrets in a JSON file next to it, logging each call.
FAKE_HELPER = """\
import json, pathlib, sys
here = pathlib.Path({state!r})
db = here / "secrets.json"
action = sys.argv[1]
payload = sys.stdin.read()
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"action": action, "stdin": payload}}) + "\\n")
secrets = json.loads(db.read_text()) if db.exists() else {{}}
if action == "store":
    entry = json.loads(payload)
    secrets[entry["ServerURL"]] = entry
    db.write_text(json.dumps(secrets))
elif action == "get":
    if payload not in secrets:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(secrets[payload]))
elif action == "erase":
    if secrets.pop(payload, None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    db.write_text(json.dumps(secrets))
"""


def run(
    cli: Cli, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None
) -> CliResult:
    """`manifestor --config DIR ARGS` with `stdin`, no MANIFESTOR_* variables but `env`."""
    environment = {k: v for k, v in cli.env().items() if not k.startswith("MANIFESTOR_")}
    environment.update(env or {})
    done = subprocess.run(
        cli.command(args), input=stdin, capture_output=True, env=environment, timeout=60
    )
    return CliResult(tuple(args), done.returncode, done.stdout, done.stderr.decode())


def login(cli: Cli, host: str, user: str = "alice", password: str = "alice-pw", **kw) -> CliResult:
    return run(cli, "login", host, "-u", user, "--password-stdin", stdin=password.encode(), **kw)


def config_of(cli: Cli) -> dict:
    return json.loads((cli.config_dir / "config.json").read_text())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def one_shot(cli: Cli, host: str, repo: str, **kw) -> CliResult:
    return run(
        cli,
        "push",
        ref(host, repo, "1.0"),
        ref(host, repo, "amd64"),
        ref(host, repo, "arm64"),
        **kw,
    )


def install_fake_store(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """`docker-credential-fake` on PATH; returns the PATH to use and its state directory."""
    bin_dir, state = tmp_path / "bin", tmp_path / "fake-store"
    bin_dir.mkdir()
    state.mkdir()
    body = bin_dir / "fake_helper.py"
    body.write_text(FAKE_HELPER.format(state=str(state)))
    program = bin_dir / "docker-credential-fake"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{body}" "$@"\n')
    program.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, state


def helper_calls(state: Path) -> list[dict[str, str]]:
    log = state / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# -- login writes config.json ----------------------------------------------------------------


def test_login_to_a_basic_registry_stores_auth_privately_and_the_next_push_uses_it(
    cli, registry_basic, repo, rig_client
):
    host = registry_basic.host
    push_arches(registry_basic, repo, ("amd64", "arm64"))
    assert_one_line_error(one_shot(cli, host, repo), 1, "authentication required")

    result = login(cli, host)

    assert result.returncode == 0, str(result)
    assert result.stdout == "Login Succeeded\n"
    assert str(cli.config_dir / "config.json") in result.stderr
    assert config_of(cli) == {"auths": {host: {"auth": b64("alice:alice-pw")}}}
    assert mode_of(cli.config_dir / "config.json") == 0o600
    pushed = one_shot(cli, host, repo)
    assert pushed.returncode == 0, str(pushed)
    served = rig_client(registry_basic).get_manifest(repo, "1.0")
    assert served.headers["Docker-Content-Digest"] == last_line_digest(pushed)


def test_login_to_a_token_registry_stores_auth_and_the_next_inspect_uses_it(
    cli, registry_token, repo
):
    host = registry_token.host
    images = push_arches(registry_token, repo, ("amd64",))
    assert run(cli, "inspect", "--digest", ref(host, repo, "amd64")).returncode == 1

    result = login(cli, host)

    assert result.returncode == 0, str(result)
    assert config_of(cli) == {"auths": {host: {"auth": b64("alice:alice-pw")}}}
    assert mode_of(cli.config_dir / "config.json") == 0o600
    inspected = run(cli, "inspect", "--digest", ref(host, repo, "amd64"))
    assert inspected.returncode == 0, str(inspected)
    assert inspected.stdout == images["amd64"].digest + "\n"


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_a_wrong_password_exits_1_and_writes_nothing(cli, request, kind):
    registry = request.getfixturevalue(f"registry_{kind}")
    config = cli.config_dir / "config.json"
    config.write_text(json.dumps({"auths": {"other.example": {"auth": b64("bob:bob-pw")}}}))
    before = sorted(p.name for p in cli.config_dir.iterdir()), config.read_bytes()

    result = login(cli, registry.host, password="not-the-password")

    assert_one_line_error(result, 1, absent=["not-the-password"])
    assert (sorted(p.name for p in cli.config_dir.iterdir()), config.read_bytes()) == before


def test_a_failed_login_creates_no_config_file(cli, registry_basic):
    result = login(cli, registry_basic.host, password="not-the-password")

    assert_one_line_error(result, 1, "rejected")
    assert list(cli.config_dir.iterdir()) == []


def test_login_keeps_the_rest_of_the_config(cli, registry_basic):
    host = registry_basic.host
    (cli.config_dir / "config.json").write_text(
        json.dumps(
            {"auths": {"other.example": {"auth": b64("bob:x")}}, "psFormat": "table {{.ID}}"}
        )
    )

    assert login(cli, host).returncode == 0

    assert config_of(cli) == {
        "auths": {"other.example": {"auth": b64("bob:x")}, host: {"auth": b64("alice:alice-pw")}},
        "psFormat": "table {{.ID}}",
    }


def test_logout_removes_the_entry_and_the_credentials_stop_working(cli, registry_basic, repo):
    host = registry_basic.host
    push_arches(registry_basic, repo, ("amd64", "arm64"))
    assert login(cli, host).returncode == 0
    (cli.config_dir / "config.json").write_text(
        json.dumps({**config_of(cli), "auths": {**config_of(cli)["auths"], "keep.example": {}}})
    )

    result = run(cli, "logout", host)

    assert result.returncode == 0, str(result)
    assert result.stdout == f"Removing login credentials for {host}\n"
    assert config_of(cli) == {"auths": {"keep.example": {}}}
    assert mode_of(cli.config_dir / "config.json") == 0o600
    assert_one_line_error(one_shot(cli, host, repo), 1, "authentication required")
    again = run(cli, "logout", host)
    assert again.returncode == 0 and again.stdout == "", str(again)
    assert "not logged in" in again.stderr


# -- a credential store --------------------------------------------------------------------------


def test_login_with_a_creds_store_stores_the_secret_there_and_logout_erases_it(
    cli, registry_basic, repo, tmp_path
):
    host = registry_basic.host
    push_arches(registry_basic, repo, ("amd64", "arm64"))
    path, state = install_fake_store(tmp_path)
    (cli.config_dir / "config.json").write_text('{"credsStore": "fake"}')

    result = login(cli, host, env=path)

    assert result.returncode == 0, str(result)
    assert "docker-credential-fake" in result.stderr
    [store] = helper_calls(state)
    assert store["action"] == "store"
    assert json.loads(store["stdin"]) == {
        "ServerURL": host,
        "Username": "alice",
        "Secret": "alice-pw",
    }
    assert config_of(cli) == {"credsStore": "fake", "auths": {host: {}}}
    assert "alice-pw" not in (cli.config_dir / "config.json").read_text()

    pushed = one_shot(cli, host, repo, env=path)
    assert pushed.returncode == 0, str(pushed)
    assert {"action": "get", "stdin": host} in helper_calls(state)

    logout = run(cli, "logout", host, env=path)

    assert logout.returncode == 0, str(logout)
    assert helper_calls(state)[-1] == {"action": "erase", "stdin": host}
    assert config_of(cli) == {"credsStore": "fake", "auths": {}}
    assert json.loads((state / "secrets.json").read_text()) == {}


# -- docker reads what login wrote ------------------------------------------------------------


def test_docker_manifest_inspect_uses_the_credentials_login_wrote(
    cli, registry_basic, repo, tmp_path
):
    docker = require_tool("docker", "this test checks docker reads what login wrote")
    host = registry_basic.host
    images = push_arches(registry_basic, repo, ("amd64",))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("DOCKER_AUTH_CONFIG", None)

    def docker_inspect(config_dir: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker, "manifest", "inspect", "--insecure", ref(host, repo, "amd64")],
            env={**env, "DOCKER_CONFIG": str(config_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    assert docker_inspect(empty).returncode != 0, "the registry must refuse anonymous reads"
    assert login(cli, host).returncode == 0

    done = docker_inspect(cli.config_dir)

    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["config"]["digest"] == images["amd64"].config_digest


# -- CI credentials from the environment -------------------------------------------------------


@pytest.mark.parametrize("scoped", [False, True], ids=["any-registry", "MANIFESTOR_REGISTRY"])
def test_environment_credentials_let_a_push_succeed_with_an_empty_config(
    cli, registry_basic, repo, scoped
):
    host = registry_basic.host
    push_arches(registry_basic, repo, ("amd64", "arm64"))
    env = {"MANIFESTOR_USERNAME": "alice", "MANIFESTOR_PASSWORD": "alice-pw"}
    if scoped:
        env["MANIFESTOR_REGISTRY"] = host

    result = one_shot(cli, host, repo, env=env)

    assert result.returncode == 0, str(result)
    with RigClient(registry_basic) as rig:
        served = rig.get_manifest(repo, "1.0")
    assert served.headers["Docker-Content-Digest"] == last_line_digest(result)
    assert not (cli.config_dir / "config.json").exists()


def test_environment_credentials_for_another_registry_are_not_used(cli, registry_basic, repo):
    host = registry_basic.host
    push_arches(registry_basic, repo, ("amd64", "arm64"))
    env = {
        "MANIFESTOR_USERNAME": "alice",
        "MANIFESTOR_PASSWORD": "alice-pw",
        "MANIFESTOR_REGISTRY": "registry.other.example:5000",
    }

    result = one_shot(cli, host, repo, env=env)

    assert_one_line_error(result, 1, "authentication required")


def test_a_wrong_password_with_a_creds_store_stores_nothing_there(cli, registry_basic, tmp_path):
    path, state = install_fake_store(tmp_path)
    (cli.config_dir / "config.json").write_text('{"credsStore": "fake"}')

    result = login(cli, registry_basic.host, password="not-the-password", env=path)

    assert_one_line_error(result, 1)
    assert helper_calls(state) == []
    assert config_of(cli) == {"credsStore": "fake"}


def test_login_through_a_symlinked_config_updates_the_linked_file(cli, registry_basic, tmp_path):
    """Like docker: a config.json that is a symlink (dotfiles) stays one."""
    real = tmp_path / "dotfiles" / "docker-config.json"
    real.parent.mkdir()
    real.write_text('{"psFormat": "table"}')
    link = cli.config_dir / "config.json"
    link.symlink_to(real)

    assert login(cli, registry_basic.host).returncode == 0

    assert link.is_symlink()
    assert json.loads(real.read_text()) == {
        "psFormat": "table",
        "auths": {registry_basic.host: {"auth": b64("alice:alice-pw")}},
    }
