"""Credential resolution against temporary docker config dirs and fake
`docker-credential-*` helpers that record how they were called."""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from manifestor.errors import CredentialsError
from manifestor.local.keychain import DOCKER_HUB_KEY, Credential, Keychain
from manifestor.model.reference import credential_key

HELPER_BODY = """\
import json, os, sys, time
stdin = sys.stdin.buffer.read().decode()
with open({record!r}, "a") as record:
    record.write(json.dumps({{"argv": sys.argv[1:], "stdin": stdin, "pid": os.getpid()}}) + "\\n")
time.sleep({sleep!r})
sys.stdout.write({stdout!r})
sys.stderr.write({stderr!r})
sys.exit({exit_code!r})
"""


@dataclass(frozen=True)
class FakeHelper:
    """A `docker-credential-<name>` on PATH; `calls()` lists each run's argv and stdin."""

    record: Path

    def calls(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


InstallHelper = Callable[..., FakeHelper]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_AUTH_CONFIG", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


@pytest.fixture
def install_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InstallHelper:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def install(
        name: str = "fake",
        *,
        stdout: str = "",
        stderr: str = "",
        exit_code: int = 0,
        sleep: float = 0.0,
    ) -> FakeHelper:
        record = tmp_path / f"{name}.calls"
        body = bin_dir / f"{name}.py"
        body.write_text(
            HELPER_BODY.format(
                record=str(record), sleep=sleep, stdout=stdout, stderr=stderr, exit_code=exit_code
            )
        )
        # `exec` so the helper's pid is the Python process the keychain must kill.
        program = bin_dir / f"docker-credential-{name}"
        program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{body}" "$@"\n')
        program.chmod(0o755)
        return FakeHelper(record)

    return install


def write_config(directory: Path, document: dict | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def helper_output(username: str, secret: str) -> str:
    return json.dumps({"ServerURL": "ignored", "Username": username, "Secret": secret})


def test_missing_config_means_anonymous(tmp_path: Path) -> None:
    assert Keychain(tmp_path / "nowhere").resolve("ghcr.io") is None


def test_empty_config_file_means_anonymous(tmp_path: Path) -> None:
    write_config(tmp_path, "")
    assert Keychain(tmp_path).resolve("ghcr.io") is None


def test_docker_config_env_selects_the_directory(tmp_path: Path) -> None:
    write_config(tmp_path / "cfg", {"auths": {"ghcr.io": {"auth": b64("u:p")}}})
    keychain = Keychain(environ={"DOCKER_CONFIG": str(tmp_path / "cfg"), "HOME": "/nonexistent"})
    assert keychain.config_file == tmp_path / "cfg" / "config.json"
    assert keychain.resolve("ghcr.io") == Credential(username="u", password="p")


def test_default_directory_is_home_dot_docker(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {"ghcr.io": {"auth": b64("u:p")}}})
    keychain = Keychain(environ={"HOME": str(tmp_path)})
    assert keychain.resolve("ghcr.io") == Credential(username="u", password="p")


@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_domains_use_the_index_key(tmp_path: Path, registry: str) -> None:
    write_config(tmp_path, {"auths": {DOCKER_HUB_KEY: {"auth": b64("u:p")}}})
    assert credential_key(registry) == "https://index.docker.io/v1/"
    assert Keychain(tmp_path).resolve(registry) == Credential(username="u", password="p")


def test_other_registries_use_their_domain_as_key() -> None:
    assert credential_key("127.0.0.1:5000") == "127.0.0.1:5000"
    assert credential_key("ghcr.io") == "ghcr.io"


def test_auth_splits_on_the_first_colon(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"reg.example": {"auth": b64("u:p:q")}}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(username="u", password="p:q")


def test_auth_trailing_nuls_are_trimmed(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"reg.example": {"auth": b64("u:p\x00\x00")}}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(username="u", password="p")


def test_auth_with_empty_username_is_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"auths": {"reg.example": {"auth": b64(":hunter2pw")}}})
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path).resolve("reg.example")
    assert str(path) in str(caught.value)
    assert "hunter2pw" not in str(caught.value)


def test_auth_that_is_not_base64_is_rejected(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"reg.example": {"auth": "not base64!"}}})
    with pytest.raises(CredentialsError, match="base64"):
        Keychain(tmp_path).resolve("reg.example")


def test_username_and_password_fields(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"reg.example": {"username": "u", "password": "p"}}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(username="u", password="p")


def test_identitytoken_keeps_the_username(tmp_path: Path) -> None:
    entry = {"auth": b64("u:"), "identitytoken": "RT"}
    write_config(tmp_path, {"auths": {"reg.example": entry}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(
        username="u", identity_token="RT"
    )


def test_registrytoken_is_a_ready_bearer_token(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"reg.example": {"registrytoken": "BT"}}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(registry_token="BT")


def test_legacy_url_key_matches_the_hostname(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"https://reg.example.com/v1/": {"auth": b64("u:p")}}})
    keychain = Keychain(tmp_path)
    assert keychain.resolve("reg.example.com") == Credential(username="u", password="p")
    assert keychain.resolve("other.example.com") is None


def test_exact_key_beats_legacy_key(tmp_path: Path) -> None:
    auths = {
        "https://reg.example.com/v1/": {"auth": b64("old:p")},
        "reg.example.com": {"auth": b64("new:p")},
    }
    write_config(tmp_path, {"auths": auths})
    assert Keychain(tmp_path).resolve("reg.example.com").username == "new"


def test_cred_helper_beats_creds_store_beats_auths(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    per_registry = install_helper("fake", stdout=helper_output("from-helper", "s1"))
    store = install_helper("store", stdout=helper_output("from-store", "s2"))
    write_config(
        tmp_path,
        {
            "credHelpers": {"reg.example": "fake"},
            "credsStore": "store",
            "auths": {
                "reg.example": {"auth": b64("from-file:s3")},
                "other.example": {"auth": b64("from-file:s3")},
            },
        },
    )
    keychain = Keychain(tmp_path)
    assert keychain.resolve("reg.example") == Credential(username="from-helper", password="s1")
    assert keychain.resolve("other.example") == Credential(username="from-store", password="s2")
    assert [call["stdin"] for call in per_registry.calls()] == ["reg.example"]
    assert [call["stdin"] for call in store.calls()] == ["other.example"]


def test_auths_used_when_no_helper_is_configured(tmp_path: Path) -> None:
    write_config(
        tmp_path, {"credHelpers": {"elsewhere": "fake"}, "auths": {"r": {"auth": b64("u:p")}}}
    )
    assert Keychain(tmp_path).resolve("r") == Credential(username="u", password="p")


def test_empty_auths_entry_does_not_stop_the_creds_store(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    install_helper("store", stdout=helper_output("u", "p"))
    write_config(tmp_path, {"credsStore": "store", "auths": {"reg.example": {}}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(username="u", password="p")


def test_file_entry_supplies_extras_to_a_helper(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    install_helper("store", stdout=helper_output("u", "p"))
    entry = {"auth": b64("file-user:file-pass"), "registrytoken": "BT"}
    write_config(tmp_path, {"credsStore": "store", "auths": {"reg.example": entry}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(
        username="u", password="p", registry_token="BT"
    )


def test_helper_is_called_with_get_and_the_hub_key_without_newline(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    helper = install_helper("fake", stdout=helper_output("u", "p"))
    write_config(tmp_path, {"credsStore": "fake"})
    Keychain(tmp_path).resolve("docker.io")
    [call] = helper.calls()
    assert call["argv"] == ["get"]
    assert call["stdin"] == "https://index.docker.io/v1/"


def test_helper_token_username_means_identity_token(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    install_helper("fake", stdout=helper_output("<token>", "RT"))
    write_config(tmp_path, {"credHelpers": {"reg.example": "fake"}})
    assert Keychain(tmp_path).resolve("reg.example") == Credential(identity_token="RT")


def test_helper_not_found_in_keychain_means_anonymous(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    install_helper("fake", stdout="credentials not found in native keychain\n", exit_code=1)
    write_config(tmp_path, {"credsStore": "fake", "auths": {"reg.example": {}}})
    assert Keychain(tmp_path).resolve("reg.example") is None


def test_failing_helper_error_quotes_stderr_but_not_the_secret(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    install_helper(
        "fake",
        stdout=helper_output("u", "s3cr3t-value"),
        stderr="keychain locked\nsecond line\n",
        exit_code=3,
    )
    write_config(tmp_path, {"credsStore": "fake"})
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path).resolve("reg.example")
    message = str(caught.value)
    assert message == "docker-credential-fake exited with status 3: keychain locked"
    assert "s3cr3t-value" not in message


def test_helper_printing_garbage_is_an_error_without_the_output(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    install_helper("fake", stdout="Secret: s3cr3t-value")
    write_config(tmp_path, {"credsStore": "fake"})
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path).resolve("reg.example")
    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.integration  # a helper process killed after a real 0.5 s wait
def test_hanging_helper_is_killed_after_the_timeout(
    tmp_path: Path, install_helper: InstallHelper
) -> None:
    helper = install_helper("fake", stdout=helper_output("u", "p"), sleep=60)
    write_config(tmp_path, {"credsStore": "fake"})
    started = time.monotonic()
    with pytest.raises(CredentialsError, match="docker-credential-fake timed out after 0.5s"):
        Keychain(tmp_path, helper_timeout=0.5).resolve("reg.example")
    assert time.monotonic() - started < 10
    # No process still runs the helper, whether or not it got as far as recording its call
    # before the timeout (a loaded machine, or coverage starting in it, can delay that).
    body = str(helper.record.parent / "bin" / "fake.py")
    assert _processes_running(body) == []
    for call in helper.calls():
        with pytest.raises(ProcessLookupError):
            os.kill(call["pid"], 0)


def _processes_running(path: str) -> list[int]:
    """Pids of live processes whose command line mentions `path`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if path.encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_helper_missing_from_path(tmp_path: Path, install_helper: InstallHelper) -> None:
    write_config(tmp_path, {"credsStore": "absent"})
    with pytest.raises(CredentialsError, match="docker-credential-absent not found on PATH"):
        Keychain(tmp_path).resolve("reg.example")


def test_helper_name_with_a_path_is_rejected(tmp_path: Path) -> None:
    write_config(tmp_path, {"credHelpers": {"reg.example": "../../bin/sh"}})
    with pytest.raises(CredentialsError, match="must not contain a path"):
        Keychain(tmp_path).resolve("reg.example")


def test_invalid_config_json_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, '{"auths": {"r": {"auth": "c2VjcmV0"}')
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path).resolve("r")
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid JSON")
    assert "\n" not in message
    assert "c2VjcmV0" not in message


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ([], "top level"),
        ({"auths": []}, "auths must be a JSON object"),
        ({"auths": {"r": "x"}}, "auths['r'] must be a JSON object"),
        ({"auths": {"r": {"auth": 1}}}, "auths['r'].auth must be a string"),
        ({"credHelpers": {"r": 1}}, "credHelpers['r'] must be a string"),
        ({"credsStore": ["x"]}, "credsStore must be a string"),
    ],
)
def test_config_of_the_wrong_shape_says_what_is_wrong(
    tmp_path: Path, document: object, complaint: str
) -> None:
    path = write_config(tmp_path, json.dumps(document))
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path).resolve("r")
    assert str(path) in str(caught.value)
    assert complaint in str(caught.value)


def test_docker_auth_config_is_read_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path,
        {"auths": {"a.example": {"auth": b64("file:p")}, "b.example": {"auth": b64("file:p")}}},
    )
    env_config = {"auths": {"a.example": {"auth": b64("env:p")}}}
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps(env_config))
    keychain = Keychain(tmp_path)
    assert keychain.resolve("a.example") == Credential(username="env", password="p")
    assert keychain.resolve("b.example") == Credential(username="file", password="p")


def test_docker_auth_config_falls_back_to_the_creds_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, install_helper: InstallHelper
) -> None:
    helper = install_helper("store", stdout=helper_output("from-store", "p"))
    write_config(tmp_path, {"credsStore": "store"})
    monkeypatch.setenv(
        "DOCKER_AUTH_CONFIG", json.dumps({"auths": {"a.example": {"auth": b64("env:p")}}})
    )
    keychain = Keychain(tmp_path)
    assert keychain.resolve("a.example").username == "env"
    assert keychain.resolve("b.example").username == "from-store"
    assert [call["stdin"] for call in helper.calls()] == ["b.example"]


def test_invalid_docker_auth_config_names_the_variable_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", '{"auths": {"r": {"auth": "c2VjcmV0"}}')
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path).resolve("r")
    assert str(caught.value).startswith("DOCKER_AUTH_CONFIG: invalid JSON")
    assert "c2VjcmV0" not in str(caught.value)


def test_docker_auth_config_entry_without_auth_is_rejected(tmp_path: Path) -> None:
    environ = {"DOCKER_AUTH_CONFIG": json.dumps({"auths": {"r": {"username": "u"}}})}
    with pytest.raises(CredentialsError, match=r"DOCKER_AUTH_CONFIG: auths\['r'\] has no auth"):
        Keychain(tmp_path, environ=environ).resolve("r")


def test_explicit_username_and_password_win(tmp_path: Path, install_helper: InstallHelper) -> None:
    helper = install_helper("fake", stdout=helper_output("from-helper", "p"))
    write_config(tmp_path, {"credsStore": "fake", "auths": {"r": {"auth": b64("file:p")}}})
    keychain = Keychain(tmp_path, username="flag-user", password="flag-pass")
    expected = Credential(username="flag-user", password="flag-pass")
    assert keychain.resolve("r") == expected
    assert keychain.resolve("docker.io") == expected
    assert helper.calls() == []


def test_explicit_password_without_username_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="without a username"):
        Keychain(tmp_path, password="p")


def test_repr_never_shows_secrets() -> None:
    credential = Credential(
        username="alice", password="pw-123", identity_token="rt-456", registry_token="bt-789"
    )
    text = repr(credential)
    assert "alice" in text
    for secret in ("pw-123", "rt-456", "bt-789"):
        assert secret not in text
        assert secret not in str(credential)
    assert not credential.is_empty


def test_one_helper_run_per_registry(tmp_path: Path, install_helper: InstallHelper) -> None:
    helper = install_helper("fake", stdout=helper_output("u", "p"), sleep=0.2)
    write_config(tmp_path, {"credsStore": "fake"})
    keychain = Keychain(tmp_path)
    results: list[Credential | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(keychain.resolve("reg.example")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert keychain.resolve("reg.example") == Credential(username="u", password="p")
    assert results == [Credential(username="u", password="p")] * 4
    assert len(helper.calls()) == 1


def test_a_failing_helper_is_not_rerun(tmp_path: Path, install_helper: InstallHelper) -> None:
    helper = install_helper("fake", stderr="boom", exit_code=1)
    write_config(tmp_path, {"credsStore": "fake"})
    keychain = Keychain(tmp_path)
    for _ in range(2):
        with pytest.raises(CredentialsError, match="boom"):
            keychain.resolve("reg.example")
    assert len(helper.calls()) == 1
