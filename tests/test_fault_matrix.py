"""The fault matrix: a one-shot release from one real registry into another, each through a
fault proxy, with one fault injected at one phase of the push, once (the push must succeed)
or for ever (it must fail with one line). Either way the target tag, if it exists, names a
complete list: every child manifest and every blob is there. Sleeps are skipped, so the
whole matrix runs in seconds."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig.faultproxy import Action, FaultProxy, drop_header, lose, reset, status, truncate
from rig.images import RigClient

from manifestor.errors import ManifestorError
from manifestor.local.keychain import Keychain
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.release import ReleaseOptions, publish_release
from manifestor.remote.client import RegistryClient
from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

pytestmark = pytest.mark.integration

RETRY = RetryPolicy(attempts=3, backoff=0.0, max_backoff=0.0, budget=30.0, request_limit=10.0)
FOREVER = 1000


@dataclass(frozen=True)
class Phase:
    """Where in the push: which side, which requests, and how many matching ones pass first."""

    side: str  # "src" | "dst"
    method: str
    path: str
    skip: int = 0


PHASES = {
    "ping": Phase("dst", "GET", r"^/v2/$"),
    "resolve": Phase("src", "GET", r"/manifests/"),
    "config": Phase("src", "GET", r"/blobs/"),
    "stream": Phase("src", "GET", r"/blobs/", skip=2),  # after the two config reads
    "tag-check": Phase("dst", "HEAD", r"/manifests/1$"),
    "child-check": Phase("dst", "HEAD", r"/manifests/sha256:"),
    "blob-check": Phase("dst", "HEAD", r"/blobs/"),
    "upload-start": Phase("dst", "POST", r"/blobs/uploads/"),
    "upload-put": Phase("dst", "PUT", r"/blobs/uploads/"),
    "child-put": Phase("dst", "PUT", r"/manifests/sha256:"),
    "list-put": Phase("dst", "PUT", r"/manifests/1$"),
    "read-back": Phase("dst", "HEAD", r"/manifests/1$", skip=1),
}
FAULTS: dict[str, Callable[[], Action]] = {
    "503": lambda: status(503),
    "429": lambda: status(429, {"Retry-After": "0"}),
    "reset": reset,
    "lost-reply": lose,
    "truncate": truncate,  # only where there is a body to cut
}
GET_PHASES = {"resolve", "config", "stream"}
# A blob PUT whose every reply is lost is committed every time: a HEAD finds it there.
SURVIVES_FOREVER = {("upload-put", "lost-reply")}
CELLS = [
    pytest.param(phase, fault, count, id=f"{phase}-{fault}-{'x1' if count == 1 else 'always'}")
    for phase in PHASES
    for fault in FAULTS
    if fault != "truncate" or phase in GET_PHASES
    for count in (1, FOREVER)
]


def _matcher(phase: Phase) -> Callable[[str, str], bool]:
    seen = 0
    regex = re.compile(phase.path)

    def match(method: str, path: str) -> bool:
        nonlocal seen
        if method != phase.method or not regex.search(path):
            return False
        seen += 1
        return seen > phase.skip

    return match


@pytest.fixture(scope="module")
def proxies(registry_plain, second_registry_plain, tiny_images) -> Iterator[dict[str, FaultProxy]]:
    with FaultProxy(registry_plain.url) as src, FaultProxy(second_registry_plain.url) as dst:
        yield {"src": src, "dst": dst}


def _complete_list_or_none(rig: RigClient, repo: str) -> bool:
    """True when the tag names a list whose children and blobs are all present; False when
    the tag is absent. Anything else fails the test."""
    listed = rig.get_manifest(repo, "1")
    if listed.status_code == 404:
        return False
    assert listed.status_code == 200, listed.status_code
    for child in json.loads(listed.content)["manifests"]:
        got = rig.get_manifest(repo, child["digest"])
        assert got.status_code == 200, f"child {child['digest']} missing"
        manifest = json.loads(got.content)
        for blob in (manifest["config"], *manifest["layers"]):
            assert rig.blob_exists(repo, blob["digest"]), f"blob {blob['digest']} missing"
    return True


@pytest.mark.parametrize(("phase", "fault", "count"), CELLS)
def test_push_survives_or_fails_cleanly(
    phase, fault, count, proxies, second_registry_plain, tmp_path: Path, request
):
    src, dst = proxies["src"], proxies["dst"]
    for proxy in (src, dst):
        proxy.reset()
    cell = PHASES[phase]
    if phase == "read-back":
        # distribution's list PUT names the digest, which proves the write and makes the
        # read-back unneeded; a registry whose reply does not is read back.
        dst.add_fault(("PUT", r"/manifests/1$"), drop_header("Docker-Content-Digest"))
    proxies[cell.side].add_fault(_matcher(cell), FAULTS[fault](), times=count)
    repo = f"matrix/{request.node.callspec.id.lower()}"
    release = Release(
        parse_reference(f"{dst.host}/{repo}:1"),
        (SourceSpec(f"{src.host}/lab/app:1.0-amd64"), SourceSpec(f"{src.host}/lab/app:1.0-arm64")),
    )
    transport = Transport(retry=RETRY, sleep=lambda seconds: None)
    config = tmp_path / "config"
    if phase == "ping":
        # The target is pinged only when credentials are configured for it (else the
        # first real request goes first, and the tag check is the first contact).
        config.mkdir()
        auths = {"auths": {dst.host: {"auth": "dXNlcjpwYXNz"}}}  # user:pass
        (config / "config.json").write_text(json.dumps(auths))
    keychain = Keychain(config, environ={})
    error: ManifestorError | None = None
    with RegistryClient(keychain=keychain, transport=transport) as client:
        try:
            publish_release(client, release, ReleaseOptions())
        except ManifestorError as caught:
            error = caught
    injected = count - proxies[cell.side].faults_left()
    assert injected >= 1, "the fault never fired: the phase is not where the matrix thinks"
    if error is not None:
        assert str(error) and "\n" not in str(error)
    if count == 1:
        assert error is None, f"one {fault} at {phase} should be survived: {error}"
    else:
        assert (error is None) == ((phase, fault) in SURVIVES_FOREVER), error
    with RigClient(second_registry_plain) as rig:
        written = _complete_list_or_none(rig, repo)
    if error is None:
        assert written
