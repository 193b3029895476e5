"""Helpers for the CLI end-to-end tests: run `manifestor` as a real subprocess, check the
one-line error contract, snapshot the local store, and check pushed lists with skopeo.

Imported by the tests/test_cli_*.py modules (tests/ is on sys.path through conftest.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rig.images import PushedImage, make_image, push_image
from rig.registry import RegistryProcess

SKOPEO = "/usr/bin/skopeo"
ERROR_PREFIX = "manifestor: error: "
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# Per-arch images the tests push, by short name (make_image arguments).
ARCHES: Mapping[str, dict[str, Any]] = {
    "amd64": {"os": "linux", "arch": "amd64"},
    "arm64": {"os": "linux", "arch": "arm64", "variant": "v8"},
    "armv7": {"os": "linux", "arch": "arm", "variant": "v7"},
    "ppc64le": {"os": "linux", "arch": "ppc64le", "media": "oci"},
}


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode()

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()

    def json(self) -> Any:
        return json.loads(self.stdout_bytes)

    def __str__(self) -> str:
        return (
            f"manifestor {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


class Cli:
    """`manifestor --config <dir> --certs-dir <empty dir> ...` as a subprocess.

    DOCKER_CONFIG points at the same directory, proxy variables are dropped (loopback
    traffic must not go through a proxy), and certs.d is empty unless a test passes one,
    so /etc/docker/certs.d on the machine cannot change a result."""

    def __init__(self, config_dir: Path, certs_dir: Path, *, config_flag: bool = True) -> None:
        self.config_dir = config_dir
        self.certs_dir = certs_dir
        self.config_flag = config_flag  # False: only DOCKER_CONFIG names the directory
        config_dir.mkdir(parents=True, exist_ok=True)
        certs_dir.mkdir(parents=True, exist_ok=True)

    @property
    def store_dir(self) -> Path:
        return self.config_dir / "manifests"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.lower().endswith("_proxy") and k != "DOCKER_AUTH_CONFIG"
        }
        env["DOCKER_CONFIG"] = str(self.config_dir)
        env["NO_PROXY"] = "*"
        return env

    def command(self, args: Sequence[str], certs_dir: Path | None = None) -> list[str]:
        config = ["--config", str(self.config_dir)] if self.config_flag else []
        certs = ["--certs-dir", str(certs_dir or self.certs_dir)]
        return [sys.executable, "-m", "manifestor", *config, *certs, *args]

    def run(self, *args: str, certs_dir: Path | None = None, timeout: float = 60) -> CliResult:
        done = subprocess.run(
            self.command(args, certs_dir),
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return CliResult(tuple(args), done.returncode, done.stdout, done.stderr.decode())

    def run_many(self, *commands: Sequence[str], timeout: float = 60) -> list[CliResult]:
        """Run several invocations at the same time (for slow failures such as a closed
        port, whose connection retries take seconds each)."""
        procs = [
            subprocess.Popen(
                self.command(args),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=self.env(),
            )
            for args in commands
        ]
        results = []
        for args, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=timeout)
            results.append(CliResult(tuple(args), proc.returncode, out, err.decode()))
        return results

    def ok(self, *args: str, certs_dir: Path | None = None) -> CliResult:
        """Run and require success (exit 0, no error line)."""
        result = self.run(*args, certs_dir=certs_dir)
        assert result.returncode == 0, str(result)
        assert ERROR_PREFIX not in result.stderr, str(result)
        return result

    def ok_many(self, *commands: Sequence[str]) -> list[CliResult]:
        """`run_many`, requiring every invocation to succeed."""
        results = self.run_many(*commands)
        for result in results:
            assert result.returncode == 0, str(result)
            assert ERROR_PREFIX not in result.stderr, str(result)
        return results

    def snapshot(self) -> dict[str, bytes]:
        return store_snapshot(self.store_dir)

    def list_dirs(self) -> list[str]:
        """The list directories in the store (docker's encoded names)."""
        if not self.store_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.store_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )


def store_snapshot(store_dir: Path) -> dict[str, bytes]:
    """Every file under the store, by relative path, with its bytes.

    Lock files are left out: the store keeps them on purpose (deleting one while another
    process waits on it would break the lock), and they are not part of any list. Staging
    and trash files under .manifestor-tmp are included, so leftovers show up."""
    if not store_dir.exists():
        return {}
    return {
        str(path.relative_to(store_dir)): path.read_bytes()
        for path in sorted(store_dir.rglob("*"))
        if path.is_file() and ".manifestor-locks" not in path.relative_to(store_dir).parts
    }


def make_cli(tmp_path: Path, config_dir: Path | None = None) -> Cli:
    return Cli(config_dir or tmp_path / "docker-config", tmp_path / "certs.d")


def assert_one_line_error(
    result: CliResult, exit_code: int, *fragments: str, absent: Iterable[str] = ()
) -> str:
    """The error contract: exit 1 (operational) or 2 (usage), exactly one line on stderr
    starting with `manifestor: error:`, no traceback, nothing on stdout. Returns the
    message; each fragment must appear in it (case-insensitive), no `absent` one may."""
    assert result.returncode == exit_code, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line:\n{result}"
    assert lines[0].startswith(ERROR_PREFIX), str(result)
    assert "Traceback" not in result.stderr, str(result)
    assert result.stdout == "", str(result)
    message = lines[0][len(ERROR_PREFIX) :]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    for fragment in absent:
        assert fragment.lower() not in message.lower(), f"{fragment!r} in {message!r}"
    return message


def repo_for(request: pytest.FixtureRequest, suffix: str = "") -> str:
    """A repository name unique to the running test (the registries are session-wide)."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    name = name.removeprefix("test-")[:80].strip("-")
    return f"cli/{name}{suffix}"


def push_arches(
    registry: RegistryProcess,
    repo: str,
    names: Sequence[str] = ("amd64", "arm64", "armv7"),
    *,
    auth: Any = None,
    layer_text: str | None = None,
) -> dict[str, PushedImage]:
    """Push one tiny image per name as `<repo>:<name>`; returns them by name."""
    pushed = {}
    for name in names:
        spec = dict(ARCHES[name])
        image = make_image(
            spec.pop("os"),
            spec.pop("arch"),
            layer_text=layer_text,
            **spec,  # type: ignore[arg-type]
        )
        pushed[name] = push_image(registry, repo, name, image, auth=auth)
    return pushed


def ref(host: str, repo: str, tag: str) -> str:
    return f"{host}/{repo}:{tag}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def last_line_digest(result: CliResult) -> str:
    """`push` prints the list digest as its last stdout line."""
    lines = result.stdout_lines
    assert lines, str(result)
    assert DIGEST.match(lines[-1]), str(result)
    return lines[-1]


def assert_pullable(
    reference: str, workdir: Path, *, creds: tuple[str, str] | None = None
) -> dict[str, Any]:
    """`skopeo copy --all` the list at `reference` into a dir: layout, as an independent
    client would pull it: every child manifest and blob must be there. Returns the list."""
    dest = workdir / f"skopeo-{len(list(workdir.glob('skopeo-*')))}"
    command = [SKOPEO, "copy", "--all", "--quiet", "--src-tls-verify=false"]
    command += ["--src-creds", ":".join(creds)] if creds else ["--src-no-creds"]
    command += [f"docker://{reference}", f"dir:{dest}"]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, f"skopeo could not pull {reference}:\n{done.stderr}"
    listing = json.loads((dest / "manifest.json").read_bytes())
    assert listing.get("manifests"), f"{reference} is not a list: {listing}"
    copied = {p.name for p in dest.iterdir()}
    for child in listing["manifests"]:
        assert f"{child['digest'][7:]}.manifest.json" in copied, f"{child['digest']} missing"
    shutil.rmtree(dest)
    return listing
