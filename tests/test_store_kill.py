"""kill -9 while a list is replaced (`create --amend`): the store holds the old list or the
new one, whole, never neither. A child process replaces the list and SIGKILLs itself at an
exact moment (patched in, so the product has no test hooks), or is killed at random."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifestor.local.store import TMP_DIR, ManifestStore, StoredEntry
from manifestor.model.oci import DOCKER_MANIFEST, parse_manifest, sha256_digest
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_reference

LIST = "127.0.0.1:5000/app:v1"
ARCHES = ("amd64", "arm64", "s390x")

# Child processes SIGKILLed mid-write: real processes and signals (pyproject.toml).
pytestmark = pytest.mark.integration


def entry(arch: str) -> StoredEntry:
    config = json.dumps({"architecture": arch, "os": "linux"}).encode()
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": sha256_digest(config),
            "size": len(config),
        },
        "layers": [],
    }
    raw = json.dumps(body, indent=3).encode()
    descriptor = parse_manifest(raw).descriptor(Platform("linux", arch))
    return StoredEntry(f"127.0.0.1:5000/app:1-{arch}", descriptor, raw)


# The child: replace the list (old: amd64 + arm64; new: s390x only), dying where told.
CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[4])
import manifestor.local.store as store
from test_store_kill import entry, LIST
from manifestor.model.reference import parse_reference

config_dir, moment, mode = sys.argv[1:4]
if mode == "fallback":
    store._renameat2 = None

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_exchange, real_rename = store.exchange_paths, os.rename
if moment == "before-swap":
    store.exchange_paths = lambda a, b: die()
    os.rename = lambda a, b: die()
elif moment == "after-swap":
    store.exchange_paths = lambda a, b: (real_exchange(a, b), die())[0]
elif moment.startswith("after-rename-"):
    wanted, seen = int(moment[-1]), []
    def rename(a, b):
        real_rename(a, b)
        seen.append(1)
        if len(seen) == wanted:
            die()
    os.rename = rename

ms = store.ManifestStore(config_dir)
ref = parse_reference(LIST)
if moment == "loop":
    lists = ([entry("amd64"), entry("arm64")], [entry("s390x")])
    i = 0
    print("ready", flush=True)
    while True:
        with ms.locked(ref):
            ms.save(ref, lists[i % 2], replace=True)
        i += 1
with ms.locked(ref):
    ms.save(ref, [entry("s390x")], replace=True)
print("not killed", flush=True)
"""

OLD = ("127.0.0.1:5000/app:1-amd64", "127.0.0.1:5000/app:1-arm64")
NEW = ("127.0.0.1:5000/app:1-s390x",)


def _child(config_dir: Path, moment: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config_dir), moment, mode, str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stored(config_dir: Path) -> tuple[str, ...]:
    """What a fresh run sees: the list's entry refs; every list readable."""
    store = ManifestStore(config_dir)
    found = tuple(e.ref for e in store.get(parse_reference(LIST)).entries)
    assert [s.corrupt for s in store.summaries()] == [None]
    return found


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    ManifestStore(tmp_path).save(
        parse_reference(LIST), [entry("amd64"), entry("arm64")], replace=False
    )
    return tmp_path


@pytest.mark.parametrize(
    ("mode", "moment", "expected"),
    [
        ("exchange", "before-swap", OLD),
        ("exchange", "after-swap", NEW),
        ("fallback", "before-swap", OLD),
        ("fallback", "after-rename-1", OLD),  # the list is out of place: put back
        ("fallback", "after-rename-2", NEW),  # the new one is in: the old is thrown away
    ],
)
def test_kill_at_the_exact_moment_leaves_old_or_new_list(config_dir, mode, moment, expected):
    child = _child(config_dir, moment, mode)
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, (out, err)
    if mode == "fallback" and moment == "after-rename-1":
        assert not (config_dir / "manifests" / "127.0.0.1-5000_app-v1").exists()  # the gap
    assert _stored(config_dir) == expected
    leftovers = [n for n in os.listdir(config_dir / "manifests" / TMP_DIR) if "swap-" in n]
    assert leftovers == []


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_kill_at_random_moments_never_loses_the_list(config_dir, mode):
    rng = random.Random(9)
    seen = set()
    for _ in range(6):
        child = _child(config_dir, "loop", mode)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        found = _stored(config_dir)
        assert found in (OLD, NEW)
        seen.add(found)
    assert seen, "no run observed"


def test_what_a_killed_swap_left_behind_is_removed_once_stale(config_dir):
    child = _child(config_dir, "after-swap", "exchange")
    child.communicate(timeout=60)
    tmp = config_dir / "manifests" / TMP_DIR
    [left] = [p for p in tmp.iterdir() if p.name.startswith("save-")]  # the old list
    store = ManifestStore(config_dir)
    store.recover()
    assert left.exists()  # it may still be a live run's
    old = time.time() - 7200
    os.utime(left, (old, old))
    store.recover()
    assert not left.exists()
    assert _stored(config_dir) == NEW
