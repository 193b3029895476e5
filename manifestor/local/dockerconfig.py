"""`login` and `logout`: check credentials against the registry, then keep them where the
docker CLI keeps them — the configured credential store (credHelpers / credsStore), else
`auths` in config.json — written atomically with mode 0600, so the next manifestor or
docker command uses them."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from manifestor.errors import CredentialsError
from manifestor.local.keychain import (
    call_helper,
    docker_config_dir,
    helper_failure,
    read_config_json,
)
from manifestor.model.reference import credential_key


def store_credentials(
    config_dir: str | os.PathLike[str] | None, registry: str, username: str, password: str
) -> str:
    """Save credentials for `registry`; returns where they went, for the user."""
    with _config_lock(config_dir):
        return _store(config_dir, registry, username, password)


def _store(
    config_dir: str | os.PathLike[str] | None, registry: str, username: str, password: str
) -> str:
    path = _config_path(config_dir)
    config = _read(path)
    key = credential_key(registry)
    helper = _helper_for(config, key)
    auths = config.setdefault("auths", {})
    if helper:
        payload = json.dumps({"ServerURL": key, "Username": username, "Secret": password})
        done = call_helper(helper, "store", payload.encode())
        if done.returncode != 0:
            raise helper_failure(helper, done)
        auths[key] = {}  # what docker writes: the secret lives in the helper
        where = f"docker-credential-{helper}"
    else:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        auths[key] = {"auth": token}
        where = str(path)
    _write(path, config)
    return where


def remove_credentials(config_dir: str | os.PathLike[str] | None, registry: str) -> bool:
    """Forget the credentials for `registry`; False when there were none."""
    with _config_lock(config_dir):
        return _remove(config_dir, registry)


def _remove(config_dir: str | os.PathLike[str] | None, registry: str) -> bool:
    path = _config_path(config_dir)
    config = _read(path)
    key = credential_key(registry)
    helper = _helper_for(config, key)
    found = key in config.get("auths", {})
    if helper:
        done = call_helper(helper, "erase", key.encode())
        if done.returncode == 0:
            found = True
        elif b"credentials not found" not in done.stdout + done.stderr:
            raise helper_failure(helper, done)
    if key in config.get("auths", {}):
        del config["auths"][key]
        _write(path, config)
    return found


def _config_lock(config_dir: str | os.PathLike[str] | None) -> AbstractContextManager[None]:
    # The local store's lock directory: one lock for every read-modify-write of the file.
    from manifestor.local.store import ManifestStore

    return ManifestStore(config_dir).locked_config()


def _config_path(config_dir: str | os.PathLike[str] | None) -> Path:
    directory = Path(config_dir) if config_dir is not None else docker_config_dir()
    return directory / "config.json"


def _helper_for(config: dict[str, Any], key: str) -> str:
    helpers = config.get("credHelpers") or {}
    return str(helpers.get(key, config.get("credsStore") or ""))


def _read(path: Path) -> dict[str, Any]:
    config = read_config_json(path)
    if not isinstance(config.get("auths", {}), dict):
        raise CredentialsError(f"{path}: \"auths\" is not an object; fix it first")
    return config


def _write(path: Path, config: dict[str, Any]) -> None:
    """Atomic and private: a temp file with mode 0600 in the same directory, renamed.
    A config.json that is a symlink (dotfiles) stays one: its target is rewritten."""
    path = Path(os.path.realpath(path))
    try:
        _write_atomically(path, config)
    except OSError as exc:
        raise CredentialsError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_atomically(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent="\t")
            out.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
