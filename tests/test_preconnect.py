"""A one-shot release opens its connections to the sources' registry while the target tag
is checked (ops/release.py, Transport.preconnect), so the reads after the check find them
open; and it still never holds more than the per-host limit of connections.

Through the rig's proxy with a latency, the check's reply is logged 20 ms after it came
in: by then every connection opened early has been accepted. Counted, not timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifestor.local.keychain import Keychain
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, SourceSpec
from manifestor.ops.release import ReleaseOptions, publish_release, publish_releases
from manifestor.remote.client import RegistryClient
from manifestor.remote.transport import Transport

pytestmark = pytest.mark.integration

ARCHES = ("amd64", "arm64", "armv7", "ppc64le")


def _release(host: str, tag: str, arches: tuple[str, ...]) -> Release:
    return Release(
        # Another repository: lab/app holds the tiny images only (tests/test_rig.py).
        parse_reference(f"{host}/preconnect/app:{tag}"),
        tuple(SourceSpec(f"{host}/lab/app:1.0-{arch}") for arch in arches),
    )


@pytest.mark.parametrize("arches", [ARCHES, ARCHES[:2]], ids=["4-sources", "2-sources"])
def test_sources_connections_are_open_when_their_reads_start(
    registry_plain, tiny_images, fault_proxy, tmp_path: Path, arches
):
    proxy = fault_proxy(registry_plain, latency=0.02)
    at_check: list[int] = []
    log = proxy._log

    def watch(entry):  # the connections accepted when the tag check's reply is logged
        if entry.method == "HEAD" and not at_check:
            at_check.append(proxy.connections)
        log(entry)

    proxy._log = watch
    keychain = Keychain(tmp_path / "no-config", environ={})
    with RegistryClient(keychain=keychain, transport=Transport()) as client:
        release = _release(proxy.host, f"pre-{len(arches)}", arches)
        result = publish_release(client, release, ReleaseOptions())
    assert result.digest
    assert at_check == [len(arches)]  # all of them, before any source is read
    assert proxy.connections <= 4  # the per-host limit, early connections included


def test_a_release_with_an_extra_tag_stays_within_the_limit(
    registry_plain, tiny_images, fault_proxy, tmp_path: Path
):
    proxy = fault_proxy(registry_plain, latency=0.02)
    release = _release(proxy.host, "tagged", ARCHES)
    release = Release(release.target, release.sources, tags=("latest",))
    keychain = Keychain(tmp_path / "no-config", environ={})
    with RegistryClient(keychain=keychain, transport=Transport()) as client:
        publish_release(client, release, ReleaseOptions())
    assert proxy.connections == 4


def test_releases_run_together_open_no_early_connections_beyond_the_limit(
    registry_plain, tiny_images, fault_proxy, tmp_path: Path
):
    """Several releases check their tags at once, filling the connections themselves."""
    proxy = fault_proxy(registry_plain, latency=0.02)
    releases = [_release(proxy.host, f"spec-{n}", ARCHES) for n in range(6)]
    keychain = Keychain(tmp_path / "no-config", environ={})
    with RegistryClient(keychain=keychain, transport=Transport()) as client:
        results = publish_releases(client, releases, ReleaseOptions())
    assert len({r.digest for r in results}) == 1
    assert proxy.connections <= 4
