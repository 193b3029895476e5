"""podman and buildah users: credentials from the containers tools' auth files (after the
docker config, as skopeo reads them), the file each credential came from, and TLS files
from the containers tools' certs.d directories as well as docker's."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clihelpers import ERROR_PREFIX, push_arches, ref
from podmanhelpers import podman_store
from rig.images import push_index

from manifestor.local.keychain import Credential, Keychain, containers_auth_files
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_auths(path: Path, auths: dict[str, str], **extra: object) -> Path:
    """An auth.json / config.json with `auths` of user:password pairs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"auths": {key: {"auth": b64(pair)} for key, pair in auths.items()}, **extra}
    path.write_text(json.dumps(body))
    return path


# -- where the files are -------------------------------------------------------------------


def test_the_containers_files_are_read_in_skopeos_order():
    environ = {
        "REGISTRY_AUTH_FILE": "/x/auth.json",
        "XDG_RUNTIME_DIR": "/run/user/7",
        "HOME": "/home/u",
    }
    assert containers_auth_files(environ) == [
        Path("/x/auth.json"),
        Path("/run/user/7/containers/auth.json"),
        Path("/home/u/.config/containers/auth.json"),
    ]


def test_without_xdg_runtime_dir_podmans_root_location_is_read():
    files = containers_auth_files({"HOME": "/root", "XDG_CONFIG_HOME": "/cfg"})
    assert files == [
        Path(f"/run/containers/{os.getuid()}/auth.json"),
        Path("/cfg/containers/auth.json"),
    ]


# -- resolution and origin ---------------------------------------------------------------------


def test_a_podman_login_is_used_when_the_docker_config_has_nothing(tmp_path: Path):
    auth = write_auths(tmp_path / "run" / "containers" / "auth.json", {"reg:5000": "pod:pw"})
    keychain = Keychain(tmp_path / "docker", environ={}, containers_files=[auth])

    assert keychain.resolve("reg:5000") == Credential(username="pod", password="pw")
    assert keychain.origin("reg:5000") == str(auth)
    assert keychain.resolve("other:5000") is None
    assert keychain.origin("other:5000") is None


def test_the_docker_config_comes_before_the_containers_files(tmp_path: Path):
    docker = write_auths(tmp_path / "docker" / "config.json", {"reg:5000": "dock:pw"})
    auth = write_auths(tmp_path / "auth.json", {"reg:5000": "pod:pw"})
    keychain = Keychain(docker.parent, environ={}, containers_files=[auth])

    assert keychain.resolve("reg:5000") == Credential(username="dock", password="pw")
    assert keychain.origin("reg:5000") == str(docker)


def test_the_first_containers_file_with_an_entry_wins(tmp_path: Path):
    first = write_auths(tmp_path / "a.json", {"elsewhere:1": "x:y"})
    second = write_auths(tmp_path / "b.json", {"reg:5000": "second:pw"})
    third = write_auths(tmp_path / "c.json", {"reg:5000": "third:pw"})
    keychain = Keychain(
        tmp_path / "docker", environ={}, containers_files=[first, tmp_path / "none", second, third]
    )

    assert keychain.resolve("reg:5000") == Credential(username="second", password="pw")
    assert keychain.origin("reg:5000") == str(second)


def test_the_environment_selects_the_files(tmp_path: Path):
    chosen = write_auths(tmp_path / "chosen.json", {"reg:5000": "env:pw"})
    write_auths(tmp_path / "xdg" / "containers" / "auth.json", {"reg:5000": "xdg:pw"})
    environ = {
        "REGISTRY_AUTH_FILE": str(chosen),
        "XDG_RUNTIME_DIR": str(tmp_path / "xdg"),
        "HOME": str(tmp_path / "home"),
    }
    keychain = Keychain(tmp_path / "docker", environ=environ)

    assert keychain.containers_files[0] == chosen
    assert keychain.resolve("reg:5000") == Credential(username="env", password="pw")
    assert keychain.origin("reg:5000") == str(chosen)


def test_home_config_containers_auth_is_read_last(tmp_path: Path):
    home_auth = write_auths(
        tmp_path / "home" / ".config" / "containers" / "auth.json", {"reg:5000": "home:pw"}
    )
    environ = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "HOME": str(tmp_path / "home")}
    keychain = Keychain(tmp_path / "docker", environ=environ)

    assert keychain.resolve("reg:5000") == Credential(username="home", password="pw")
    assert keychain.origin("reg:5000") == str(home_auth)


@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_is_found_under_podmans_docker_io_key(tmp_path: Path, registry: str):
    auth = write_auths(tmp_path / "auth.json", {"docker.io": "hub:pw"})
    keychain = Keychain(tmp_path / "docker", environ={}, containers_files=[auth])
    assert keychain.resolve(registry) == Credential(username="hub", password="pw")


def test_a_credential_for_one_namespace_is_not_used_for_the_whole_registry(tmp_path: Path):
    auth = write_auths(tmp_path / "auth.json", {"quay.io/team": "team:pw"})
    keychain = Keychain(tmp_path / "docker", environ={}, containers_files=[auth])
    assert keychain.resolve("quay.io") is None


def test_a_url_key_in_a_containers_file_matches_its_host(tmp_path: Path):
    auth = write_auths(tmp_path / "auth.json", {"https://reg:5000/v2/": "old:pw"})
    keychain = Keychain(tmp_path / "docker", environ={}, containers_files=[auth])
    assert keychain.resolve("reg:5000") == Credential(username="old", password="pw")


def test_origin_names_the_variable_and_the_command_line(tmp_path: Path):
    environ = {"DOCKER_AUTH_CONFIG": json.dumps({"auths": {"reg:5000": {"auth": b64("e:p")}}})}
    from_variable = Keychain(tmp_path / "docker", environ=environ, containers_files=[])
    explicit = Keychain(tmp_path / "docker", username="u", password="p", containers_files=[])

    assert from_variable.origin("reg:5000") == "DOCKER_AUTH_CONFIG"
    assert "command line" in (explicit.origin("reg:5000") or "")


# -- against real registries -----------------------------------------------------------------


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and k not in ("DOCKER_AUTH_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR")
    }
    env.update(
        DOCKER_CONFIG=str(tmp_path / "docker-config"),
        HOME=str(tmp_path / "home"),
        NO_PROXY="*",
        **extra,
    )
    return env


def _manifestor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "manifestor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.integration
def test_after_podman_login_manifestor_reads_the_list(registry_basic, repo, tmp_path):
    host = registry_basic.host
    images = push_arches(registry_basic, repo, ("amd64", "arm64"), auth=("alice", "alice-pw"))
    push_index(registry_basic, repo, "1", list(images.values()), "docker", attestation=False)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    with podman_store({"XDG_RUNTIME_DIR": str(runtime)}) as podman:
        podman.ok(
            "login", "--tls-verify=false", "-u", "alice", "--password-stdin", host, stdin="alice-pw"
        )
    assert (runtime / "containers" / "auth.json").is_file()

    shown = _manifestor(
        _cli_env(tmp_path, XDG_RUNTIME_DIR=str(runtime)), "inspect", ref(host, repo, "1")
    )

    assert shown.returncode == 0, shown.stderr
    assert ERROR_PREFIX not in shown.stderr
    digests = [m["digest"] for m in json.loads(shown.stdout)["manifests"]]
    assert digests == [images["amd64"].digest, images["arm64"].digest]


@pytest.mark.integration
def test_a_ca_in_the_users_containers_certs_d_is_trusted(registry_tls, repo, tmp_path):
    images = push_arches(registry_tls, repo, ("amd64",))
    assert registry_tls.ca_pem is not None
    host_dir = tmp_path / "home" / ".config" / "containers" / "certs.d" / registry_tls.host
    host_dir.mkdir(parents=True)
    (host_dir / "ca.crt").write_bytes(registry_tls.ca_pem)

    # No --certs-dir: the default directories, with $HOME pointing at this test's home.
    shown = _manifestor(
        _cli_env(tmp_path), "inspect", "--digest", ref(registry_tls.host, repo, "amd64")
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == images["amd64"].digest


@pytest.mark.integration
def test_the_certs_directories_are_searched_in_order_and_overridable(registry_tls, tmp_path):
    assert registry_tls.ca_pem is not None
    docker_dir, containers_dir, user_dir = (tmp_path / n for n in ("docker", "etc", "user"))
    (containers_dir / registry_tls.host).mkdir(parents=True)
    (containers_dir / registry_tls.host / "ca.crt").write_bytes(registry_tls.ca_pem)
    transport = Transport(
        certs_dirs=[docker_dir, containers_dir, user_dir], retry=RetryPolicy(attempts=1)
    )
    try:
        response = transport.ping(registry_tls.host)
    finally:
        transport.close()

    assert response.status == 200
    assert transport.base_url(registry_tls.host) == f"https://{registry_tls.host}"
