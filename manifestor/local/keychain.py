"""Where registry credentials come from: explicit flags, DOCKER_AUTH_CONFIG, the docker
config.json (`auths`, `credsStore`, `credHelpers`) and `docker-credential-*` helpers, then
the files podman, buildah and skopeo keep (`REGISTRY_AUTH_FILE`, `containers/auth.json`).
Resolution follows the docker CLI, then skopeo; the keychain remembers which file each
credential came from. Nothing here speaks HTTP."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifestor.errors import CredentialsError
from manifestor.model.reference import DOCKER_HUB_CREDENTIAL_KEY, credential_key

DOCKER_HUB_KEY = DOCKER_HUB_CREDENTIAL_KEY
_HELPER_PREFIX = "docker-credential-"
_TOKEN_USERNAME = "<token>"
_HELPER_NOT_FOUND = "credentials not found in native keychain"
_AUTH_CONFIG_VARIABLE = "DOCKER_AUTH_CONFIG"
_CONTAINERS_AUTH_VARIABLE = "REGISTRY_AUTH_FILE"
# The keys the containers tools file Docker Hub's credentials under.
_CONTAINERS_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")
_MAX_QUOTED_CHARS = 200

log = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class Credential:
    """What a registry accepts from us; empty fields are None, never ""."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __repr__(self) -> str:
        # Only the username is shown: this repr ends up in logs and --debug tracebacks.
        secrets = ", ".join(
            f"{name}={'<redacted>' if value is not None else None}"
            for name, value in (
                ("password", self.password),
                ("identity_token", self.identity_token),
                ("registry_token", self.registry_token),
            )
        )
        return f"Credential(username={self.username!r}, {secrets})"


def docker_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$DOCKER_CONFIG`, else `~/.docker`, as the docker CLI picks it."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker"


def containers_auth_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where podman, buildah and skopeo keep credentials, in the order skopeo reads them:
    `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` (without that variable,
    `/run/containers/<uid>/auth.json`, where `podman login` writes as root) and
    `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`."""
    env = os.environ if environ is None else environ
    files = []
    if env.get(_CONTAINERS_AUTH_VARIABLE):
        files.append(Path(env[_CONTAINERS_AUTH_VARIABLE]))
    runtime = env.get("XDG_RUNTIME_DIR")
    files.append(
        Path(runtime) / "containers" / "auth.json"
        if runtime
        else Path("/run/containers") / str(os.getuid()) / "auth.json"
    )
    config_home = env.get("XDG_CONFIG_HOME")
    if not config_home:
        home = env.get("HOME")
        config_home = str((Path(home) if home else Path.home()) / ".config")
    files.append(Path(config_home) / "containers" / "auth.json")
    return files


@dataclass(frozen=True)
class _DockerConfig:
    """The credential-related parts of one config.json."""

    auths: Mapping[str, Credential] = field(default_factory=dict)
    creds_store: str = ""
    cred_helpers: Mapping[str, str] = field(default_factory=dict)

    def helper_for(self, key: str) -> str:
        # A credHelpers entry wins even when it is "" (which means: the file itself).
        return self.cred_helpers.get(key, self.creds_store)


class Keychain:
    """Resolves a registry to a Credential the way the docker CLI does.

    Results (and failures) are cached per key, so each helper runs at most once per
    registry for the life of the Keychain; safe to share between threads."""

    def __init__(
        self,
        config_dir: str | os.PathLike[str] | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        environ: Mapping[str, str] | None = None,
        helper_timeout: float = 30.0,
        explicit_for: str | None = None,
        containers_files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        """`username`/`password` win for every registry, or only for `explicit_for`.
        `containers_files` replaces the containers tools' auth files (for tests)."""
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._explicit_key = credential_key(explicit_for) if explicit_for else None
        directory = docker_config_dir(self._environ) if config_dir is None else Path(config_dir)
        self._config_file = directory / "config.json"
        self._helper_timeout = helper_timeout
        self._explicit = _explicit_credential(username, password)
        # One lock for everything: resolving twice in parallel would run a helper twice,
        # and an invocation talks to very few registries.
        self._lock = threading.Lock()
        self._cache: dict[str, _Found | CredentialsError] = {}
        self._config: _DockerConfig | None = None
        self._env_auths: Mapping[str, Credential] | None = None
        self._containers_files = (
            [Path(p) for p in containers_files]
            if containers_files is not None
            else containers_auth_files(self._environ)
        )
        self._containers_configs: dict[Path, _DockerConfig] = {}

    @property
    def config_file(self) -> Path:
        return self._config_file

    @property
    def containers_files(self) -> list[Path]:
        """The containers tools' auth files read after the docker config, in order."""
        return list(self._containers_files)

    def resolve(self, registry: str) -> Credential | None:
        """Credentials for `registry` (a reference's domain), or None for anonymous."""
        return self._found(registry).credential

    def origin(self, registry: str) -> str | None:
        """Where `registry`'s credentials come from (a file, a helper, a variable, the
        command line), or None when there are none: what `doctor` reports."""
        return self._found(registry).origin

    def _found(self, registry: str) -> _Found:
        key = credential_key(registry)
        if self._explicit is not None and self._explicit_key in (None, key):
            return _Found(self._explicit, _EXPLICIT_ORIGIN)
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = self._resolve_uncached(key)
                except CredentialsError as err:
                    # A failing or hanging helper is not retried for every request.
                    self._cache[key] = err
            cached = self._cache[key]
        if isinstance(cached, CredentialsError):
            raise cached
        return cached

    def may_have(self, registry: str) -> bool:
        """Whether `registry` may have a credential: one is configured for it (a file entry,
        a variable, the command line) or a helper would be asked. Runs no helper, so it is
        cheap; a config file it cannot read counts as "may" (resolving will say why)."""
        key = credential_key(registry)
        if self._explicit is not None and self._explicit_key in (None, key):
            return True
        with self._lock:
            return self._may_have(key)

    def _may_have(self, key: str) -> bool:
        try:
            if _lookup(self._load_env_auths(), key) is not None:
                return True
            config = self._load_config()
            if config.helper_for(key) or _lookup(config.auths, key) is not None:
                return True
            keys = _containers_keys(key)
            for path in self._containers_files:
                config = self._load_containers_config(path)
                if _lookup_host(config.auths, keys) is not None or config.creds_store:
                    return True
                if any(k in config.cred_helpers for k in keys):
                    return True
        except CredentialsError:
            return True
        return False

    def renew(self, registry: str) -> Credential | None:
        """`resolve` again, without the cache: the config file is re-read and the helper
        runs again (a credential that expired during the run, such as ECR's 12-hour
        password, may have been refreshed meanwhile)."""
        with self._lock:
            self._cache.pop(credential_key(registry), None)
            self._config = None
            self._containers_configs.clear()
        return self.resolve(registry)

    def _resolve_uncached(self, key: str) -> _Found:
        from_env = _lookup(self._load_env_auths(), key)
        if from_env is not None:
            log.debug("credentials for %s from %s", key, _AUTH_CONFIG_VARIABLE)
            return _Found(from_env, _AUTH_CONFIG_VARIABLE)
        found = self._from_config(self._load_config(), key, key, self._config_file)
        if found.credential is not None:
            return found
        # What podman, buildah and skopeo logged in to, as skopeo finds it.
        hub = key == DOCKER_HUB_KEY
        for path in self._containers_files:
            config = self._load_containers_config(path)
            entry = _lookup_host(config.auths, _containers_keys(key))
            helper_key = next((k for k in _CONTAINERS_HUB_KEYS if k in config.cred_helpers), key)
            found = self._from_config(config, helper_key if hub else key, None, path, entry)
            if found.credential is not None:
                return found
        return _Found(None, None)

    def _from_config(
        self,
        config: _DockerConfig,
        key: str,
        lookup_key: str | None,
        path: Path,
        entry: Credential | None = None,
    ) -> _Found:
        """The credential one config file gives `key`: its `auths` entry, or its helper's
        answer with the file's extras."""
        if entry is None:
            entry = _lookup(config.auths, lookup_key) if lookup_key is not None else None
        entry = entry or Credential()
        helper = config.helper_for(key)
        if not helper:
            log.debug("credentials for %s from %s", key, path)
            return _Found(None, None) if entry.is_empty else _Found(entry, str(path))
        from_helper = _run_helper(helper, key, self._environ, self._helper_timeout)
        log.debug("credentials for %s from %s%s", key, _HELPER_PREFIX, helper)
        # Like docker's native store: the helper owns the secrets, the file adds extras.
        merged = Credential(
            username=from_helper.username if from_helper else None,
            password=from_helper.password if from_helper else None,
            identity_token=from_helper.identity_token if from_helper else None,
            registry_token=entry.registry_token,
        )
        if merged.is_empty:
            return _Found(None, None)
        return _Found(merged, f"{_HELPER_PREFIX}{helper} (configured in {path})")

    def _load_containers_config(self, path: Path) -> _DockerConfig:
        if path not in self._containers_configs:
            self._containers_configs[path] = _read_config_file(path)
        return self._containers_configs[path]

    def _load_config(self) -> _DockerConfig:
        if self._config is None:
            self._config = _read_config_file(self._config_file)
        return self._config

    def _load_env_auths(self) -> Mapping[str, Credential]:
        if self._env_auths is None:
            self._env_auths = _parse_env_auths(self._environ.get(_AUTH_CONFIG_VARIABLE, ""))
        return self._env_auths


_EXPLICIT_ORIGIN = "the command line or MANIFESTOR_USERNAME/MANIFESTOR_PASSWORD"


@dataclass(frozen=True)
class _Found:
    """A resolved credential (None: anonymous) and where it came from."""

    credential: Credential | None
    origin: str | None


def _explicit_credential(username: str | None, password: str | None) -> Credential | None:
    if not username:
        if password:
            raise CredentialsError("a password was given without a username")
        return None
    return Credential(username=username, password=password or None)


def _hostname_of_key(key: str) -> str:
    # Old docker versions stored keys as URLs (`https://reg.example.com/v1/`).
    if "://" in key:
        key = key.split("://", 1)[1]
    return key.split("/", 1)[0]


def _lookup(auths: Mapping[str, Credential], key: str) -> Credential | None:
    if key in auths:
        return auths[key]
    for stored_key, entry in auths.items():
        if _hostname_of_key(stored_key) == key:
            return entry
    return None


def _containers_keys(key: str) -> tuple[str, ...]:
    """The keys the containers tools file `key`'s credentials under: Docker Hub's three
    host names for docker's Hub key, else the key itself."""
    return _CONTAINERS_HUB_KEYS if key == DOCKER_HUB_KEY else (key,)


def _lookup_host(auths: Mapping[str, Credential], hosts: Sequence[str]) -> Credential | None:
    """A containers auth.json entry for one of `hosts`. Keys are `host[:port]`, perhaps
    with a scheme; a key with a path (`quay.io/org`) is for those repositories only and is
    not used for the whole registry."""
    for host in hosts:
        if host in auths:
            return auths[host]
    for stored_key, entry in auths.items():
        bare = stored_key.split("://", 1)[-1].rstrip("/").removesuffix("/v1").removesuffix("/v2")
        if bare in hosts:
            return entry
    return None


def _read_config_file(path: Path) -> _DockerConfig:
    document = read_config_json(path)
    return _parse_config(document, str(path)) if document else _DockerConfig()


def read_config_json(path: Path) -> dict[str, Any]:
    """A config.json as its JSON object ({} when absent or empty). The one reader for the
    keychain and for login's rewrite, so both accept and refuse the same files."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # docker tolerates a BOM
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise CredentialsError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise CredentialsError(f"{path}: cannot read: {err.strerror}") from None
    if not text.strip():
        return {}  # docker treats an empty file as an empty config
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        # err.msg and the position only: the text may hold secrets.
        raise CredentialsError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise CredentialsError(f"{path}: invalid JSON") from None
    if not isinstance(document, dict):
        raise CredentialsError(f"{path}: expected a JSON object at the top level")
    return document


def _parse_config(document: object, origin: str) -> _DockerConfig:
    if not isinstance(document, dict):
        raise CredentialsError(f"{origin}: expected a JSON object at the top level")
    raw_auths = _object_or_empty(document.get("auths"), origin, "auths")
    auths = {
        key: _parse_auth_entry(entry, origin, f"auths[{key!r}]") for key, entry in raw_auths.items()
    }
    raw_helpers = _object_or_empty(document.get("credHelpers"), origin, "credHelpers")
    cred_helpers = {
        key: _require_string(helper, origin, f"credHelpers[{key!r}]")
        for key, helper in raw_helpers.items()
    }
    creds_store = _string_field(document, "credsStore", origin, "config") or ""
    return _DockerConfig(auths=auths, creds_store=creds_store, cred_helpers=cred_helpers)


def _object_or_empty(value: object, origin: str, where: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CredentialsError(f"{origin}: {where} must be a JSON object")
    return value


def _require_string(value: object, origin: str, where: str) -> str:
    if not isinstance(value, str):
        raise CredentialsError(f"{origin}: {where} must be a string")
    return value


def _string_field(entry: dict[str, object], name: str, origin: str, where: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    return _require_string(value, origin, f"{where}.{name}") or None


def _parse_auth_entry(entry: object, origin: str, where: str) -> Credential:
    fields = _object_or_empty(entry, origin, where)
    username = _string_field(fields, "username", origin, where)
    password = _string_field(fields, "password", origin, where)
    encoded = _string_field(fields, "auth", origin, where)
    if encoded is not None:
        # As in docker, `auth` overrides the separate username/password fields.
        username, password = _decode_auth(encoded, origin, f"{where}.auth")
    return Credential(
        username=username,
        password=password,
        identity_token=_string_field(fields, "identitytoken", origin, where),
        registry_token=_string_field(fields, "registrytoken", origin, where),
    )


def _decode_auth(encoded: str, origin: str, where: str) -> tuple[str, str | None]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        # ValueError: non-ASCII characters, which b64decode refuses before decoding.
        raise CredentialsError(f"{origin}: {where} is not base64 of UTF-8 text") from None
    username, colon, password = decoded.partition(":")  # passwords may contain ':'
    if not colon or not username:
        raise CredentialsError(f"{origin}: {where} is not of the form username:password")
    # Some old writers padded the password with NULs.
    return username, password.rstrip("\x00") or None


def _parse_env_auths(value: str) -> Mapping[str, Credential]:
    if not value.strip():
        return {}
    try:
        document = json.loads(value)
    except json.JSONDecodeError as err:
        # Never echo the value: it is a secret.
        raise CredentialsError(
            f"{_AUTH_CONFIG_VARIABLE}: invalid JSON at column {err.colno}: {err.msg}"
        ) from None
    except (ValueError, RecursionError):
        raise CredentialsError(f"{_AUTH_CONFIG_VARIABLE}: invalid JSON") from None
    if not isinstance(document, dict):
        raise CredentialsError(f"{_AUTH_CONFIG_VARIABLE}: expected a JSON object")
    raw_auths = _object_or_empty(document.get("auths"), _AUTH_CONFIG_VARIABLE, "auths")
    auths: dict[str, Credential] = {}
    for key, entry in raw_auths.items():
        where = f"auths[{key!r}]"
        fields = _object_or_empty(entry, _AUTH_CONFIG_VARIABLE, where)
        # docker reads only `auth` from the environment, and requires it.
        encoded = _string_field(fields, "auth", _AUTH_CONFIG_VARIABLE, where)
        if encoded is None:
            raise CredentialsError(f"{_AUTH_CONFIG_VARIABLE}: {where} has no auth")
        username, password = _decode_auth(encoded, _AUTH_CONFIG_VARIABLE, f"{where}.auth")
        auths[key] = Credential(username=username, password=password)
    return auths


def _helper_program(name: str) -> str:
    # The name comes from a user-editable file; it must not point outside PATH.
    separators = {"/", os.sep, os.altsep or "/", "\x00"}
    if any(sep in name for sep in separators):
        raise CredentialsError(f"credential helper name {name!r} must not contain a path")
    return _HELPER_PREFIX + name


def call_helper(
    name: str,
    action: str,
    payload: bytes,
    environ: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[bytes]:
    """Run `docker-credential-<name> <action>` (get, store, erase) with `payload` on stdin."""
    environ = os.environ if environ is None else environ
    program = _helper_program(name)
    executable = shutil.which(program, path=environ.get("PATH", os.defpath))
    if executable is None:
        raise CredentialsError(f"{program} not found on PATH")
    try:
        return subprocess.run(
            [executable, action],
            input=payload,
            capture_output=True,
            timeout=timeout,
            env=dict(environ),
            check=False,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has killed it; `from None` keeps partial output out of tracebacks.
        raise CredentialsError(f"{program} timed out after {timeout:g}s") from None
    except OSError as err:
        raise CredentialsError(f"{program} could not be run: {err.strerror}") from None


def helper_failure(name: str, done: subprocess.CompletedProcess[bytes]) -> CredentialsError:
    # stderr only: on failure some helpers print what they were given to stdout.
    return CredentialsError(
        f"{_helper_program(name)} exited with status {done.returncode}{_first_line(done.stderr)}"
    )


def _run_helper(
    name: str, key: str, environ: Mapping[str, str], timeout: float
) -> Credential | None:
    # The key goes without a trailing newline: helpers read it verbatim.
    done = call_helper(name, "get", key.encode("utf-8"), environ, timeout)
    if done.returncode != 0:
        if done.stdout.decode("utf-8", "replace").strip() == _HELPER_NOT_FOUND:
            return None
        raise helper_failure(name, done)
    return _parse_helper_output(done.stdout, _helper_program(name))


def _first_line(stream: bytes) -> str:
    lines = stream.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return ""
    return ": " + lines[0].strip()[:_MAX_QUOTED_CHARS]


def _parse_helper_output(stdout: bytes, program: str) -> Credential | None:
    try:
        document = json.loads(stdout.decode("utf-8"))
    except (ValueError, RecursionError):  # also UnicodeDecodeError
        document = None
    if not isinstance(document, dict):
        raise CredentialsError(f"{program} get printed something other than a JSON object")
    username = _string_field(document, "Username", program, "output")
    secret = _string_field(document, "Secret", program, "output")
    if username == _TOKEN_USERNAME:
        credential = Credential(identity_token=secret)
    else:
        credential = Credential(username=username, password=secret)
    return None if credential.is_empty else credential


# The MANIFESTOR_* policy for CI: explicit credentials from the environment, applying to
# MANIFESTOR_REGISTRY only when that is set (to every registry otherwise).
_ENV_USERNAME = "MANIFESTOR_USERNAME"
_ENV_PASSWORD = "MANIFESTOR_PASSWORD"
_ENV_REGISTRY = "MANIFESTOR_REGISTRY"


def keychain_for(
    config_dir: str | os.PathLike[str] | None,
    username: str | None = None,
    password: str | None = None,
    registry: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Keychain:
    """The keychain a command uses: the docker config, with explicit credentials on top,
    taken from the arguments, else from MANIFESTOR_USERNAME / MANIFESTOR_PASSWORD."""
    env = os.environ if environ is None else environ
    if username is None:
        username = env.get(_ENV_USERNAME) or None
        password = env.get(_ENV_PASSWORD) if username else None
        registry = env.get(_ENV_REGISTRY) or None
        if username and not password:
            raise CredentialsError(f"{_ENV_USERNAME} is set but {_ENV_PASSWORD} is not")
    return Keychain(config_dir, username=username, password=password, explicit_for=registry)


def login_credentials(
    username: str | None, password: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """What `login` stores: the given username, else MANIFESTOR_USERNAME; the given
    password (read from stdin), else MANIFESTOR_PASSWORD. None when either is missing."""
    env = os.environ if environ is None else environ
    username = username or env.get(_ENV_USERNAME) or None
    password = password if password is not None else env.get(_ENV_PASSWORD) or ""
    if not username or not password:
        return None
    return username, password


@dataclass(frozen=True)
class CredentialSource:
    """Where one registry's credentials come from — a variable, a file, a helper — never
    the credentials themselves. `helper` names the docker-credential-* program, if any."""

    registry: str
    source: str
    helper: str | None = None
    used_by: str = "manifestor"


def credential_sources(
    config_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[CredentialSource]:
    """Every configured registry and where `Keychain` would take its credentials from, in
    its order (MANIFESTOR_USERNAME, DOCKER_AUTH_CONFIG, credHelpers, credsStore, auths),
    then the auth files buildah and podman read for base images. No helper is run.
    A malformed config raises CredentialsError, as resolving would."""
    env = os.environ if environ is None else environ
    sources: list[CredentialSource] = []
    if env.get("MANIFESTOR_USERNAME"):
        scope = env.get("MANIFESTOR_REGISTRY") or "every registry"
        sources.append(CredentialSource(scope, "MANIFESTOR_USERNAME / MANIFESTOR_PASSWORD"))
    from_env = _parse_env_auths(env.get(_AUTH_CONFIG_VARIABLE, ""))
    sources += [CredentialSource(key, _AUTH_CONFIG_VARIABLE) for key in from_env]
    directory = docker_config_dir(env) if config_dir is None else Path(config_dir)
    config_file = directory / "config.json"
    config = _read_config_file(config_file)
    for key in dict.fromkeys([*config.cred_helpers, *config.auths]):
        if key in from_env:
            continue
        helper = config.helper_for(credential_key(key))
        if helper:
            where = f"{_HELPER_PREFIX}{helper} ({config_file})"
            sources.append(CredentialSource(key, where, helper))
        else:
            fields = _stored_fields(config.auths.get(key))
            sources.append(CredentialSource(key, f"{config_file} auths ({fields})"))
    if config.creds_store:
        where = f"{_HELPER_PREFIX}{config.creds_store} ({config_file})"
        sources.append(CredentialSource("any other registry", where, config.creds_store))
    return sources + _containers_sources(env)


def _stored_fields(credential: Credential | None) -> str:
    if credential is None:
        return "empty entry"
    names = [
        label
        for label, present in (
            (
                "username/password",
                credential.username is not None and credential.password is not None,
            ),
            ("identity token", credential.identity_token is not None),
            ("registry token", credential.registry_token is not None),
        )
        if present
    ]
    return ", ".join(names) or "empty entry"


def _containers_sources(environ: Mapping[str, str]) -> list[CredentialSource]:
    out = []
    for path in containers_auth_files(environ):
        if not path.is_file():
            continue
        try:
            config = _read_config_file(path)
        except CredentialsError:
            continue  # not ours to read; buildah reports it when it uses the file
        out += [
            CredentialSource(
                key, str(path), used_by="manifestor (after the docker config), buildah/podman"
            )
            for key in config.auths
        ]
    return out
