"""Shared pytest fixtures: real registries, token server, tiny images, fault proxies.

Built on the `rig` package (tests/rig), which talks HTTP itself and never uses manifestor.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clihelpers import Cli, make_cli, repo_for
from covsummary import pytest_terminal_summary  # noqa: F401 (coverage totals at the end)
from fakereg import FakeRegistry
from logichelpers import fake_client, recording_upsert_waits
from rig.dockerconfig import DockerConfig
from rig.faultproxy import BlobMirror, FaultProxy
from rig.images import PushedImage, RigClient, make_image
from rig.registry import RegistryProcess
from rig.tokenserver import TokenServer

from manifestor.remote.client import RegistryClient

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
TOKEN_USERS = {"alice": "alice-pw", "reader": "reader-pw"}
TOKEN_GRANTS = {
    "alice": [("*", ["pull", "push"])],
    "reader": [("*", ["pull"])],
    "": [("public/*", ["pull"])],
}


# The fast run (`pytest -m "not integration"`) tries this many inputs per parser property
# (tests/test_fuzz_parsers.py) instead of 100; an explicit FUZZ_EXAMPLES wins (scripts/fuzz.sh).
FAST_RUN_FUZZ_EXAMPLES = "10"


def pytest_configure(config: pytest.Config) -> None:
    # Only the fast run's exact expression: any other selection keeps the full count.
    if config.option.markexpr.split() == ["not", "integration"]:
        os.environ.setdefault("FUZZ_EXAMPLES", FAST_RUN_FUZZ_EXAMPLES)


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    """A fresh in-process scripted registry (tests/fakereg) with distribution's behaviour;
    set `.personality`, `.auth` and `.script(...)` per test."""
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def fake(fake_registry: FakeRegistry) -> FakeRegistry:
    """The scripted registry, under the short name the logic tests use."""
    return fake_registry


@pytest.fixture
def client(tmp_path) -> Iterator[RegistryClient]:
    """An anonymous manifestor client with fast retries (tests/logichelpers.py), for the
    scripted registry; a test module may define its own `client` instead."""
    with fake_client(tmp_path) as anonymous:
        yield anonymous


@pytest.fixture
def upsert_waits() -> Iterator[list[float]]:
    """The settle waits of upserts made through a release, recorded instead of slept
    (tests/logichelpers.py); for release tests against the scripted registry."""
    with recording_upsert_waits([]) as waits:
        yield waits


def _registry(tmp_path_factory: pytest.TempPathFactory, kind: str, **kwargs: Any):
    return RegistryProcess(kind, workdir=tmp_path_factory.mktemp(f"registry-{kind}"), **kwargs)


@pytest.fixture(scope="session")
def _caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("caches")


@pytest.fixture(autouse=True)
def _own_cache(_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty manifest cache (the CLI's ~/.cache/manifestor), so what a
    test sees never depends on the tests before it. (mkdtemp under one directory: pytest's
    mktemp scans every numbered directory made so far, which over a thousand tests costs
    seconds.)"""
    monkeypatch.setenv("MANIFESTOR_CACHE_DIR", tempfile.mkdtemp(prefix="cache-", dir=_caches))


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with _registry(tmp_path_factory, "plain") as registry:
        yield registry


@pytest.fixture(scope="session")
def second_registry_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with _registry(tmp_path_factory, "plain") as registry:
        yield registry


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with _registry(tmp_path_factory, "tls") as registry:
        yield registry


@pytest.fixture(scope="session")
def registry_mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """TLS that also requires a client certificate (`client_cert_pem`, `client_key_pem`)."""
    with _registry(tmp_path_factory, "mtls") as registry:
        yield registry


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with _registry(tmp_path_factory, "basic", users=USERS) as registry:
        yield registry


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with TokenServer(TOKEN_USERS, TOKEN_GRANTS) as server:
        with _registry(tmp_path_factory, "token", token_server=server) as registry:
            yield registry


@pytest.fixture
def token_server(registry_token: RegistryProcess) -> Iterator[TokenServer]:
    """The token registry's server with an empty request log; settings restored afterwards."""
    server = registry_token.token_server
    assert server is not None
    server.reset()
    yield server
    server.post_enabled = True
    server.expires_in = 300
    server.reset()


@pytest.fixture
def rig_client() -> Iterator[Callable[..., RigClient]]:
    """Factory: rig_client(registry, auth=None) -> RigClient (admin auth by default)."""
    clients: list[RigClient] = []

    def make(registry: RegistryProcess, auth: Any = None) -> RigClient:
        clients.append(RigClient(registry, auth))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def tiny_images(registry_plain: RegistryProcess) -> dict[str, PushedImage]:
    """Five single-platform images pushed to registry_plain as lab/app:1.0-<name>."""
    images = {
        "amd64": make_image("linux", "amd64"),
        "arm64": make_image("linux", "arm64", variant="v8"),
        "armv7": make_image("linux", "arm", variant="v7"),
        "ppc64le": make_image("linux", "ppc64le", media="oci"),
        "windows": make_image("windows", "amd64", os_version="10.0.17763.1234"),
    }
    with RigClient(registry_plain) as client:
        return {
            name: client.push_image("lab/app", f"1.0-{name}", image)
            for name, image in images.items()
        }


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory: fault_proxy(registry, latency=0.0) -> FaultProxy in front of `registry`."""
    proxies: list[FaultProxy] = []

    def make(registry: RegistryProcess, latency: float = 0.0) -> FaultProxy:
        proxies.append(FaultProxy(registry.url, ca_file=registry.ca_cert_path, latency=latency))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def blob_mirror() -> Iterator[Callable[..., BlobMirror]]:
    """Factory: blob_mirror(registry) -> BlobMirror on 127.0.0.2 fetching from `registry`."""
    mirrors: list[BlobMirror] = []

    def make(registry: RegistryProcess) -> BlobMirror:
        mirrors.append(BlobMirror(registry))
        return mirrors[-1]

    yield make
    for mirror in mirrors:
        mirror.close()


@pytest.fixture
def docker_config(tmp_path, monkeypatch: pytest.MonkeyPatch) -> DockerConfig:
    """A fresh DOCKER_CONFIG directory (env var set for the test)."""
    config = DockerConfig(tmp_path / "docker-config")
    monkeypatch.setenv("DOCKER_CONFIG", str(config.path))
    return config


@pytest.fixture
def cli(tmp_path, docker_config: DockerConfig) -> Cli:
    """The manifestor CLI as a subprocess, with this test's own Docker config directory."""
    return make_cli(tmp_path, docker_config.path)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to this test (the registries live for the whole session)."""
    return repo_for(request)
