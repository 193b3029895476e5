"""podman as an independent client in the tests: each test gets its own throwaway store
(`--root/--runroot`, vfs storage), never the machine's. podman must be installed
(scripts/setup.sh installs it); a test that needs it fails with a clear message if not."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PODMAN = "/usr/bin/podman"


@dataclass(frozen=True)
class Podman:
    """podman with its own root, runroot and environment."""

    root: Path
    env: Mapping[str, str]

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        store = ["--root", str(self.root / "r"), "--runroot", str(self.root / "rr")]
        return subprocess.run(
            [PODMAN, *store, "--storage-driver", "vfs", *args],
            input=stdin,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def allow_plain_http(self, host: str) -> None:
        """List `host` as insecure in this store's registries.conf: `podman manifest
        inspect` has no --tls-verify in podman 4.3."""
        with open(self.env["CONTAINERS_REGISTRIES_CONF"], "a") as conf:
            conf.write(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n\n')

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            pytest.fail(
                f"podman {' '.join(args)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done.stdout


def require_podman() -> None:
    if shutil.which(PODMAN) is None:
        pytest.fail(f"podman is not installed ({PODMAN}); run scripts/setup.sh to install it")


@contextmanager
def podman_store(extra_env: Mapping[str, str] | None = None) -> Iterator[Podman]:
    """A Podman on a fresh store. The runroot path must stay under 50 characters, so the
    store lives in a short /tmp directory rather than under pytest's tmp_path."""
    require_podman()
    root = Path(tempfile.mkdtemp(prefix="mfpod-", dir="/tmp"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE")
    }
    env.setdefault("XDG_RUNTIME_DIR", str(root / "xdg"))
    # Its own registries.conf, so the machine's search registries and mirrors play no part.
    env["CONTAINERS_REGISTRIES_CONF"] = str(root / "registries.conf")
    (root / "registries.conf").write_text("unqualified-search-registries = []\n\n")
    env.update(extra_env or {})
    Path(env["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        yield Podman(root, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # as root, read-only vfs layers go too


def platform_args(platform: str) -> Sequence[str]:
    """`linux/arm64/v8` as podman's `--os linux --arch arm64 --variant v8`."""
    os_name, arch, *variant = platform.split("/")
    return ["--os", os_name, "--arch", arch, *(["--variant", variant[0]] if variant else [])]
