"""`login` and `logout` rewrite config.json under the local store's lock, so concurrent
logins (CI jobs sharing a runner's ~/.docker) never lose each other's entries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from manifestor.local.dockerconfig import remove_credentials, store_credentials
from manifestor.local.store import ManifestStore

# Other processes and real lock waits (a login held off for 0.5 s) (pyproject.toml).
pytestmark = pytest.mark.integration

WRITER = """
import sys
from manifestor.local.dockerconfig import store_credentials
for n in range(int(sys.argv[3])):
    store_credentials(sys.argv[1], f"{sys.argv[2]}-{n}.example.com", "user", "pw")
"""


def _auths(config_dir: Path) -> dict[str, object]:
    return json.loads((config_dir / "config.json").read_text())["auths"]


def test_a_login_waits_for_the_config_lock(tmp_path):
    done = threading.Event()
    store = ManifestStore(tmp_path)

    def login() -> None:
        store_credentials(tmp_path, "reg.example.com", "user", "pw")
        done.set()

    with store.locked_config():
        thread = threading.Thread(target=login)
        thread.start()
        assert not done.wait(0.5), "login rewrote config.json while another held the lock"
        assert not (tmp_path / "config.json").exists()
    thread.join(10)
    assert done.is_set()
    assert list(_auths(tmp_path)) == ["reg.example.com"]


def test_a_logout_waits_for_the_config_lock(tmp_path):
    store_credentials(tmp_path, "reg.example.com", "user", "pw")
    done = threading.Event()

    def logout() -> None:
        remove_credentials(tmp_path, "reg.example.com")
        done.set()

    with ManifestStore(tmp_path).locked_config():
        thread = threading.Thread(target=logout)
        thread.start()
        assert not done.wait(0.5), "logout rewrote config.json while another held the lock"
    thread.join(10)
    assert done.is_set() and _auths(tmp_path) == {}


def test_concurrent_logins_from_several_processes_keep_every_entry(tmp_path):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"w{i}", "10"])
        for i in range(4)
    ]
    for writer in writers:
        assert writer.wait(120) == 0
    assert sorted(_auths(tmp_path)) == sorted(
        f"w{i}-{n}.example.com" for i in range(4) for n in range(10)
    )
