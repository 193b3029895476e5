"""The MANIFESTOR_* credential policy for CI (local/keychain.py `keychain_for` and
`login_credentials`), tested without a registry: explicit credentials win, the
environment's apply to MANIFESTOR_REGISTRY only when that is set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manifestor.errors import CredentialsError
from manifestor.local.keychain import keychain_for, login_credentials


def _config_with(tmp_path: Path, registry: str, auth: str) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return tmp_path


def test_environment_credentials_apply_to_every_registry_without_manifestor_registry(tmp_path):
    env = {"MANIFESTOR_USERNAME": "ci", "MANIFESTOR_PASSWORD": "pw"}
    keychain = keychain_for(tmp_path, environ=env)
    for registry in ("a.example.com", "b.example.com:5000"):
        credential = keychain.resolve(registry)
        assert credential is not None
        assert (credential.username, credential.password) == ("ci", "pw")


def test_environment_credentials_apply_only_to_manifestor_registry_when_set(tmp_path):
    config = _config_with(tmp_path, "other.example.com", "dTpw")  # u:p
    env = {
        "MANIFESTOR_USERNAME": "ci",
        "MANIFESTOR_PASSWORD": "pw",
        "MANIFESTOR_REGISTRY": "ci.example.com",
    }
    keychain = keychain_for(config, environ=env)
    mine = keychain.resolve("ci.example.com")
    assert mine is not None and mine.username == "ci"
    other = keychain.resolve("other.example.com")
    assert other is not None and other.username == "u"


def test_a_username_without_a_password_in_the_environment_is_refused(tmp_path):
    with pytest.raises(CredentialsError, match="MANIFESTOR_PASSWORD is not"):
        keychain_for(tmp_path, environ={"MANIFESTOR_USERNAME": "ci"})


def test_explicit_arguments_win_over_the_environment(tmp_path):
    env = {"MANIFESTOR_USERNAME": "ci", "MANIFESTOR_PASSWORD": "pw"}
    keychain = keychain_for(tmp_path, "me", "secret", "r.example.com", environ=env)
    credential = keychain.resolve("r.example.com")
    assert credential is not None and credential.username == "me"
    assert keychain.resolve("elsewhere.example.com") is None


def test_login_takes_the_flag_and_stdin_first_then_the_environment():
    env = {"MANIFESTOR_USERNAME": "ci", "MANIFESTOR_PASSWORD": "pw"}
    assert login_credentials("me", "typed", env) == ("me", "typed")
    assert login_credentials(None, None, env) == ("ci", "pw")
    assert login_credentials(None, None, {}) is None
    assert login_credentials("me", "", env) is None  # an empty stdin is no password
