"""The run-wide scheduler: per-host limits that hold however deep the work nests, the
first failure ending a batch at once, cancellation reaching work in flight."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping

import pytest
from logichelpers import fake_client
from requests.structures import CaseInsensitiveDict

from manifestor.errors import CancelledError, NotFoundError
from manifestor.model.body import BodySource
from manifestor.model.oci import DOCKER_LIST, DOCKER_MANIFEST
from manifestor.model.reference import parse_reference
from manifestor.ops.assemble import resolve_sources
from manifestor.remote.client import RegistryClient
from manifestor.remote.jobs import Jobs
from manifestor.remote.response import HttpResponse


def test_map_keeps_input_order():
    jobs = Jobs()
    assert jobs.map(lambda n: n * n, list(range(20))) == [n * n for n in range(20)]


def test_nested_maps_never_exceed_the_per_host_limit():
    jobs = Jobs(per_host=3, workers=8)
    in_flight = {"now": 0, "max": 0}
    lock = threading.Lock()

    def request(_: int) -> None:
        with jobs.gate("registry.example"):
            with lock:
                in_flight["now"] += 1
                in_flight["max"] = max(in_flight["max"], in_flight["now"])
            time.sleep(0.002)
            with lock:
                in_flight["now"] -= 1

    def source(_: int) -> None:
        request(0)
        jobs.map(lambda c: jobs.map(request, range(3)), range(4))

    jobs.map(source, range(8))
    assert in_flight["max"] == 3


def test_nested_maps_on_few_workers_do_not_deadlock():
    jobs = Jobs(workers=1)
    result = jobs.map(
        lambda a: sum(jobs.map(lambda b: sum(jobs.map(int, [b] * 3)), [a] * 3)), [1, 2]
    )
    assert result == [9, 18]


def test_first_failure_cancels_the_others_and_is_raised_at_once():
    jobs = Jobs()
    outcome: dict[int, str] = {}
    release = threading.Event()

    def work(n: int) -> None:
        if n == 0:
            raise NotFoundError("source 0 is missing", status=404)
        # The others wait for an event nobody sets; only cancellation ends them.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                jobs.check()
            except CancelledError:
                outcome[n] = "cancelled"
                raise
            release.wait(0.01)
        outcome[n] = "finished"

    with pytest.raises(NotFoundError, match="source 0"):
        jobs.map(work, range(8))
    assert jobs.wait_idle(5)
    assert "finished" not in outcome.values()


def test_items_not_started_are_dropped_after_a_failure():
    jobs = Jobs(workers=1)
    started: list[int] = []

    def work(n: int) -> None:
        started.append(n)
        if n == 0:
            raise ValueError("boom")
        time.sleep(0.05)

    with pytest.raises(ValueError):
        jobs.map(work, range(50))
    jobs.wait_idle(5)
    assert len(started) < 50


def test_cancelling_the_run_stops_a_map_and_the_gate():
    jobs = Jobs(per_host=1)
    entered = threading.Event()

    def hold() -> None:
        with jobs.gate("h"):
            entered.set()
            while True:
                jobs.check()
                time.sleep(0.01)

    holder = threading.Thread(target=lambda: pytest.raises(CancelledError, hold), daemon=True)
    holder.start()
    entered.wait(5)
    threading.Timer(0.1, jobs.cancel).start()
    with pytest.raises(CancelledError, match="interrupted"):
        with jobs.gate("h"):  # waits for the slot until the run is cancelled
            pass
    holder.join(5)
    assert not holder.is_alive()


def test_shielded_cleanup_runs_after_a_cancel():
    jobs = Jobs(per_host=1)
    jobs.cancel()
    with pytest.raises(CancelledError):
        jobs.check()
    with jobs.shielded():
        jobs.check()
        with jobs.gate("h"):
            pass


# -- the client: every request passes the gate ------------------------------------------


def _doc(body: dict) -> bytes:
    return json.dumps(body).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class CountingTransport:
    """A stand-in for the HTTP layer that serves a fixed set of manifests and blobs and
    records how many requests are in flight at once."""

    def __init__(self, documents: Mapping[str, tuple[str, bytes]], delay: float = 0.003):
        self.documents = documents
        self.delay = delay
        self.now = 0
        self.max = 0
        self.requests = 0
        self._lock = threading.Lock()

    def ping(self, host: str) -> HttpResponse:
        return self._reply(200, f"http://{host}/v2/", "", b"")

    def base_url(self, host: str) -> str:
        return f"http://{host}"

    def guess_base(self, host: str) -> str:
        return f"http://{host}"

    def confirm_base(self, host: str, base: str) -> None:
        pass

    def close(self) -> None:
        pass

    def request(self, method: str, url: str, **_: object) -> HttpResponse:
        with self._lock:
            self.now += 1
            self.requests += 1
            self.max = max(self.max, self.now)
        try:
            time.sleep(self.delay)
            identifier = url.rsplit("/", 1)[-1]
            if identifier not in self.documents:
                return self._reply(404, url, "", b"")
            media_type, body = self.documents[identifier]
            return self._reply(200, url, media_type, body)
        finally:
            with self._lock:
                self.now -= 1

    @staticmethod
    def _reply(status: int, url: str, media_type: str, body: bytes) -> HttpResponse:
        headers = CaseInsensitiveDict({"Content-Type": media_type})
        if body:
            headers["Docker-Content-Digest"] = _digest(body)
        return HttpResponse(status, url, headers, body)


def _source_lists(count: int, children: int) -> dict[str, tuple[str, bytes]]:
    """`count` source lists (tags list-N), each of `children` images with their configs."""
    documents: dict[str, tuple[str, bytes]] = {}
    archs = ["amd64", "arm64", "ppc64le", "s390x", "386", "riscv64"][:children]
    for n in range(count):
        descriptors = []
        for arch in archs:
            config = _doc({"os": "linux", "architecture": arch, "n": n})
            documents[_digest(config)] = ("application/octet-stream", config)
            image = _doc(
                {
                    "schemaVersion": 2,
                    "mediaType": DOCKER_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.docker.container.image.v1+json",
                        "digest": _digest(config),
                        "size": len(config),
                    },
                    "layers": [],
                }
            )
            documents[_digest(image)] = (DOCKER_MANIFEST, image)
            descriptors.append(
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": _digest(image),
                    "size": len(image),
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        index = _doc({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": descriptors})
        documents[f"list-{n}"] = (DOCKER_LIST, index)
    return documents


def test_client_keeps_nested_resolution_within_the_per_host_limit():
    transport = CountingTransport(_source_lists(8, 4))
    sources = [parse_reference(f"registry.example/app:list-{n}") for n in range(8)]
    with RegistryClient(transport=transport) as client:  # type: ignore[arg-type]
        entries = resolve_sources(client, sources)
    assert [len(group) for group in entries] == [4] * 8
    assert transport.requests == 8 + 8 * 4
    assert transport.max <= client.jobs.per_host
    assert transport.max > 1  # and it did run concurrently


def test_an_error_in_the_first_source_ends_the_run_without_resolving_the_rest():
    documents = _source_lists(8, 4)
    transport = CountingTransport(documents, delay=0.05)
    sources = [parse_reference("registry.example/app:missing")] + [
        parse_reference(f"registry.example/app:list-{n}") for n in range(7)
    ]
    with RegistryClient(transport=transport) as client:  # type: ignore[arg-type]
        with pytest.raises(NotFoundError, match="missing"):
            resolve_sources(client, sources)
        client.jobs.wait_idle(5)
    # Had the run gone on, it would have made 1 + 7 * 5 requests.
    assert transport.requests < 1 + 7 * 5


def test_a_cancelled_upload_stops_within_a_chunk_and_deletes_its_session(fake, tmp_path):
    """A large upload stops at the next chunk once the run is cancelled, ends its PATCH
    cleanly and deletes the session; a small one is sent whole."""
    sent: list[int] = []
    chunk = 1 << 20

    with fake_client(tmp_path) as client:

        def chunks() -> Iterator[bytes]:
            for n in range(100):
                sent.append(n)
                if n == 2:
                    client.jobs.cancel()
                yield b"x" * chunk

        repo = parse_reference(f"{fake.host}/team/app")
        with pytest.raises(CancelledError):
            client.upload_blob(repo, "sha256:" + "0" * 64, BodySource(chunks, 100 * chunk))
    assert len(sent) == 3
    assert fake.count("PATCH") == 1 and fake.count("DELETE", r"/blobs/uploads/") == 1
    assert fake.uploads_open() == 0


def test_once_shares_a_result_and_an_error_but_not_a_cancellation():
    jobs = Jobs()
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        return 7

    assert jobs.once("a", work) == jobs.once("a", work) == 7
    assert len(calls) == 1
    with pytest.raises(NotFoundError):
        jobs.once("b", lambda: (_ for _ in ()).throw(NotFoundError("gone", status=404)))
    with pytest.raises(NotFoundError):
        jobs.once("b", lambda: 1)  # the same error, not a second try

    def cancelled() -> int:
        raise CancelledError("cancelled after another task failed")

    with pytest.raises(CancelledError):
        jobs.once("c", cancelled)
    assert jobs.once("c", lambda: 3) == 3  # a cancelled try is not remembered
