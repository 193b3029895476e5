"""manifestor next to the real `docker manifest` (docker CLI client, no daemon): lists made
by one tool are inspected, annotated and pushed by the other, and from the same sources in
the same order both tools push the very same list bytes. skopeo checks pushed lists.

Both tools run as subprocesses, exactly as a user runs them, against the rig's real
docker-registry processes. docker keeps its store in a throwaway DOCKER_CONFIG directory;
manifestor is pointed at the same directory with --config."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig.dockerconfig import DockerConfig
from rig.images import DOCKER_LIST, OCI_INDEX, Image, PushedImage, RigClient, make_image
from tools import require_tool

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _docker_cli() -> None:
    require_tool(
        "docker", "these tests compare manifestor with `docker manifest` (client only, no daemon)"
    )

REPO = "interop/app"
# docker orders a list's entries by their store file names; these tags sort in this order.
TAGS: dict[str, Image] = {
    "v-a-amd64": make_image("linux", "amd64"),
    "v-b-arm64": make_image("linux", "arm64", variant="v8"),
    "v-c-armv7": make_image("linux", "arm", variant="v7"),
    "v-d-arm64-novariant": make_image("linux", "arm64"),  # config without a variant
    "w-a-windows": make_image(
        "windows", "amd64", os_version="10.0.17763.1234", os_features=["win32k"]
    ),
    "w-b-ppc64le-oci": make_image("linux", "ppc64le", media="oci"),
    "w-c-s390x-oci": make_image("linux", "s390x", media="oci"),
    "w-d-riscv64": make_image("linux", "riscv64"),
}
LIST_TYPES = (DOCKER_LIST, OCI_INDEX)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


# -- running the two tools --


def _environment(config_dir: Path) -> dict[str, str]:
    """The caller's environment without proxies or injected credentials, DOCKER_CONFIG set."""
    drop = {name for variable in PROXY_VARIABLES for name in (variable, variable.lower())}
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "DOCKER_AUTH_CONFIG"}
    env["DOCKER_CONFIG"] = str(config_dir)
    return env


def _run(argv: Sequence[str], config_dir: Path) -> str:
    result = subprocess.run(
        list(argv), env=_environment(config_dir), capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def docker(config_dir: Path, *args: str) -> str:
    """`docker manifest ARGS` with DOCKER_CONFIG=config_dir; returns stdout."""
    return _run(["docker", "manifest", *args], config_dir)


def manifestor(config_dir: Path, *args: str) -> str:
    """`manifestor --config config_dir ARGS`; returns stdout."""
    return _run(
        [sys.executable, "-m", "manifestor", "--config", str(config_dir), *args], config_dir
    )


def manifestor_raw(config_dir: Path, *args: str) -> bytes:
    """stdout of manifestor as bytes (for `inspect --raw`)."""
    argv = [sys.executable, "-m", "manifestor", "--config", str(config_dir), *args]
    result = subprocess.run(argv, env=_environment(config_dir), capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- the registry side --


@dataclass(frozen=True)
class Served:
    """What the registry serves for a tag: exact bytes, its Docker-Content-Digest, type."""

    raw: bytes
    digest: str
    media_type: str

    @property
    def body(self) -> dict:
        return json.loads(self.raw)

    def platforms(self) -> dict[str, dict]:
        return {m["digest"]: m["platform"] for m in self.body["manifests"]}


def served(client: RigClient, tag: str, repo: str = REPO) -> Served:
    response = client.get_manifest(repo, tag, accept=LIST_TYPES)
    assert response.status_code == 200, f"{repo}:{tag} -> {response.status_code} {response.text}"
    return Served(
        response.content,
        response.headers["Docker-Content-Digest"],
        response.headers["Content-Type"],
    )


def entries(listing: dict) -> list[tuple[str, str, int, dict]]:
    """(mediaType, digest, size, platform) per entry, in order."""
    return [(m["mediaType"], m["digest"], m["size"], m["platform"]) for m in listing["manifests"]]


@pytest.fixture(scope="module")
def interop_images(registry_plain) -> dict[str, PushedImage]:
    with RigClient(registry_plain) as client:
        return {tag: client.push_image(REPO, tag, image) for tag, image in TAGS.items()}


@pytest.fixture
def plain(registry_plain, interop_images, rig_client) -> Iterator[Callable[..., str]]:
    """ref(tag) -> "<registry_plain host>/interop/app:<tag>"; `.client` reads the registry."""

    def ref(tag: str) -> str:
        return f"{registry_plain.host}/{REPO}:{tag}"

    ref.client = rig_client(registry_plain)  # type: ignore[attr-defined]
    yield ref


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    path = tmp_path / "docker-config"
    path.mkdir()
    return path


def _source_tags(names: Sequence[str]) -> list[str]:
    assert list(names) == sorted(names), "docker would reorder these: keep them sorted"
    return list(names)


# -- a list made by docker, used by manifestor --


@pytest.fixture
def docker_made_list(plain, config_dir: Path, request) -> str:
    """`docker manifest create --insecure` of three per-arch images; returns the list name."""
    name = plain("from-docker-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8])
    sources = [plain(t) for t in _source_tags(["v-a-amd64", "v-b-arm64", "v-c-armv7"])]
    out = docker(config_dir, "create", "--insecure", name, *sources)
    assert out.strip() == f"Created manifest list {name}"
    return name


def test_manifestor_inspects_a_list_made_by_docker(docker_made_list, config_dir, interop_images):
    docker_view = docker(config_dir, "inspect", "--insecure", docker_made_list)
    ours = manifestor(config_dir, "inspect", docker_made_list)
    assert entries(json.loads(ours)) == entries(json.loads(docker_view))
    assert [e[1] for e in entries(json.loads(ours))] == [
        interop_images[t].digest for t in ("v-a-amd64", "v-b-arm64", "v-c-armv7")
    ]
    assert json.loads(ours)["mediaType"] == DOCKER_LIST
    assert ours == docker_view  # docker's exact text: 3-space indent, its key order
    verbose = manifestor(config_dir, "inspect", "--verbose", docker_made_list)
    assert verbose == docker(config_dir, "inspect", "--verbose", docker_made_list)


def test_manifestor_pushes_a_list_made_by_docker(
    docker_made_list, config_dir, plain, interop_images
):
    expected = manifestor_raw(config_dir, "inspect", "--raw", docker_made_list)
    out = manifestor(config_dir, "push", docker_made_list)
    digest = last_line(out)
    got = served(plain.client, docker_made_list.rsplit(":", 1)[1])
    assert got.raw == expected
    assert got.digest == digest == sha256(got.raw)
    assert got.media_type == DOCKER_LIST
    assert got.platforms() == {
        interop_images["v-a-amd64"].digest: {"architecture": "amd64", "os": "linux"},
        interop_images["v-b-arm64"].digest: {
            "architecture": "arm64",
            "os": "linux",
            "variant": "v8",
        },
        interop_images["v-c-armv7"].digest: {"architecture": "arm", "os": "linux", "variant": "v7"},
    }
    # docker's local list is still usable by docker afterwards (no --purge was given).
    assert entries(json.loads(docker(config_dir, "inspect", docker_made_list))) == entries(got.body)


def test_skopeo_copies_the_list_manifestor_pushed_from_docker_store(
    docker_made_list, config_dir, plain, interop_images, tmp_path
):
    require_tool("skopeo", "this test checks the pushed list with an independent client")
    manifestor(config_dir, "push", docker_made_list)
    got = served(plain.client, docker_made_list.rsplit(":", 1)[1])
    destination = tmp_path / "copy"
    subprocess.run(
        ["skopeo", "copy", "--all", "--src-tls-verify=false",
         f"docker://{docker_made_list}", f"dir:{destination}"],
        check=True, capture_output=True, timeout=120, env=_environment(config_dir),
    )  # fmt: skip
    assert (destination / "manifest.json").read_bytes() == got.raw
    for tag in ("v-a-amd64", "v-b-arm64", "v-c-armv7"):
        child = interop_images[tag]
        copied = destination / f"{child.digest.split(':')[1]}.manifest.json"
        assert copied.read_bytes() == child.manifest_bytes
        assert (destination / child.config_digest.split(":")[1]).exists()


# -- a list made by manifestor, used by docker --


def test_docker_inspects_and_pushes_a_list_made_and_annotated_by_manifestor(
    plain, config_dir, interop_images
):
    name = plain("from-manifestor")
    tags = _source_tags(["v-a-amd64", "v-c-armv7", "v-d-arm64-novariant"])
    out = manifestor(config_dir, "create", name, *[plain(t) for t in tags])
    assert out.strip() == f"Created manifest list {name}"
    manifestor(config_dir, "annotate", name, plain("v-d-arm64-novariant"), "--variant", "v8")

    docker_view = json.loads(docker(config_dir, "inspect", name))
    assert entries(docker_view) == entries(json.loads(manifestor(config_dir, "inspect", name)))
    assert docker_view["manifests"][2]["platform"] == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }
    ours = manifestor_raw(config_dir, "inspect", "--raw", name)

    # No --insecure: docker's push goes to a loopback registry over plain HTTP directly.
    pushed = docker(config_dir, "push", name)
    digest = last_line(pushed)
    got = served(plain.client, "from-manifestor")
    assert digest == got.digest == sha256(got.raw)
    assert got.raw == ours  # what manifestor itself would have pushed
    assert got.media_type == DOCKER_LIST
    assert [m["digest"] for m in got.body["manifests"]] == [interop_images[t].digest for t in tags]
    assert got.body["manifests"][2]["platform"]["variant"] == "v8"
    assert not got.raw.endswith(b"\n")


# -- byte identity: the same sources in the same order give the same list --

IDENTITY_CASES = {
    # name: (sources, extra manifestor push options, expected list type)
    "docker-children": (["v-a-amd64", "v-b-arm64", "v-c-armv7"], [], DOCKER_LIST),
    "os-version-and-features": (["w-a-windows", "w-d-riscv64"], [], DOCKER_LIST),
    "oci-children": (["w-b-ppc64le-oci", "w-c-s390x-oci"], [], OCI_INDEX),
    "oci-first-then-docker": (["w-b-ppc64le-oci", "w-d-riscv64"], [], OCI_INDEX),
    # docker lets the first entry decide and writes a Docker list of OCI children when a
    # Docker child comes first; manifestor refuses that list (see the test below).
}


@pytest.mark.parametrize("case", list(IDENTITY_CASES))
def test_docker_and_manifestor_push_the_same_bytes(case, plain, tmp_path):
    tags, push_options, media_type = IDENTITY_CASES[case]
    tags = _source_tags(tags)
    sources = [plain(t) for t in tags]
    docker_dir, our_dir = tmp_path / "docker", tmp_path / "manifestor"
    docker_dir.mkdir()
    our_dir.mkdir()
    docker_tag, our_tag = f"same-{case}-docker", f"same-{case}-manifestor"

    docker(docker_dir, "create", "--insecure", plain(docker_tag), *sources)
    docker_digest = last_line(docker(docker_dir, "push", plain(docker_tag)))
    manifestor(our_dir, "create", plain(our_tag), *sources)
    local = manifestor_raw(our_dir, "inspect", "--raw", *push_options, plain(our_tag))
    our_digest = last_line(manifestor(our_dir, "push", *push_options, plain(our_tag)))

    theirs, ours = served(plain.client, docker_tag), served(plain.client, our_tag)
    assert ours.raw == theirs.raw, (
        f"docker:\n{theirs.raw.decode()}\nmanifestor:\n{ours.raw.decode()}"
    )
    assert our_digest == docker_digest == theirs.digest == ours.digest == sha256(ours.raw)
    assert local == ours.raw
    assert ours.media_type == theirs.media_type == media_type
    assert [m["digest"] for m in ours.body["manifests"]] == [
        plain.client.get_manifest(REPO, t).headers["Docker-Content-Digest"] for t in tags
    ]


def test_auto_format_differs_from_docker_when_a_later_child_is_oci(plain, tmp_path):
    """The one documented divergence: docker's first entry decides the list type."""
    sources = [plain(t) for t in _source_tags(["w-a-windows", "w-b-ppc64le-oci"])]
    docker_dir, our_dir = tmp_path / "docker", tmp_path / "manifestor"
    docker_dir.mkdir()
    our_dir.mkdir()
    docker(docker_dir, "create", "--insecure", plain("mixed-docker"), *sources)
    docker(docker_dir, "push", plain("mixed-docker"))
    manifestor(our_dir, "create", plain("mixed-manifestor"), *sources)
    manifestor(our_dir, "push", plain("mixed-manifestor"))
    theirs = served(plain.client, "mixed-docker")
    ours = served(plain.client, "mixed-manifestor")
    assert theirs.media_type == DOCKER_LIST
    assert ours.media_type == OCI_INDEX
    assert entries(ours.body) == entries(theirs.body)
    assert ours.raw.replace(OCI_INDEX.encode(), DOCKER_LIST.encode(), 1) == theirs.raw


# -- docker's annotate on a list manifestor made --


@pytest.fixture
def annotated_by_docker(plain, config_dir) -> tuple[str, list[str]]:
    """A manifestor list whose middle entry docker annotated (variant, os.features)."""
    name = plain("docker-annotated")
    tags = _source_tags(["v-a-amd64", "v-c-armv7", "v-d-arm64-novariant"])
    manifestor(config_dir, "create", name, *[plain(t) for t in tags])
    docker(
        config_dir, "annotate", name, plain("v-c-armv7"),
        "--variant", "v6", "--os-features", "sse4,fancy",
    )  # fmt: skip
    return name, tags


def test_manifestor_reads_an_entry_docker_annotated(
    annotated_by_docker, plain, config_dir, interop_images
):
    name, _ = annotated_by_docker
    wanted = {
        "architecture": "arm",
        "os": "linux",
        "os.features": ["sse4", "fancy"],
        "variant": "v6",
    }
    text = manifestor(config_dir, "inspect", "--verbose", name, plain("v-c-armv7"))
    one = json.loads(text)
    assert one["Ref"] == plain("v-c-armv7")
    assert one["Descriptor"]["digest"] == interop_images["v-c-armv7"].digest
    assert one["Descriptor"]["platform"] == wanted
    assert text == docker(config_dir, "inspect", "--verbose", name, plain("v-c-armv7"))

    listing = json.loads(manifestor(config_dir, "inspect", name))
    assert {m["digest"]: m["platform"] for m in listing["manifests"]}[
        interop_images["v-c-armv7"].digest
    ] == wanted

    # manifestor can annotate the entry docker rewrote, and push the result.
    manifestor(config_dir, "annotate", name, plain("v-d-arm64-novariant"), "--variant", "v8")
    digest = last_line(manifestor(config_dir, "push", name))
    got = served(plain.client, "docker-annotated")
    assert got.digest == digest
    assert got.platforms()[interop_images["v-c-armv7"].digest] == wanted
    assert got.platforms()[interop_images["v-d-arm64-novariant"].digest]["variant"] == "v8"
    assert sorted(got.platforms()) == sorted(
        interop_images[t].digest for t in annotated_by_docker[1]
    )


def test_after_docker_annotate_both_tools_push_the_same_bytes(
    annotated_by_docker, plain, config_dir
):
    name, tags = annotated_by_docker
    ours = manifestor_raw(config_dir, "inspect", "--raw", name)
    docker_digest = last_line(docker(config_dir, "push", name))
    theirs = served(plain.client, name.rsplit(":", 1)[1])
    assert theirs.digest == docker_digest
    assert [m["digest"] for m in json.loads(ours)["manifests"]] == [
        m["digest"] for m in theirs.body["manifests"]
    ]
    assert ours == theirs.raw


def test_two_name_inspect_without_verbose_prints_what_docker_prints(plain, config_dir):
    name = plain("two-name-inspect")
    manifestor(config_dir, "create", name, plain("v-a-amd64"))
    assert manifestor(config_dir, "inspect", name, plain("v-a-amd64")) == docker(
        config_dir, "inspect", name, plain("v-a-amd64")
    )


# -- token auth, credentials from config.json `auths` --


def test_token_registry_both_tools_push_the_same_bytes(
    registry_token, token_server, rig_client, docker_config: DockerConfig
):
    client = rig_client(registry_token)
    tags = _source_tags(["v-a-amd64", "v-b-arm64", "v-c-armv7"])
    repo = "interop/token-app"
    for tag in tags:
        client.push_image(repo, tag, TAGS[tag])
    docker_config.add_auth(registry_token.host, "alice", "alice-pw")
    config = docker_config.path

    def ref(tag: str) -> str:
        return f"{registry_token.host}/{repo}:{tag}"

    sources = [ref(t) for t in tags]
    docker(config, "create", "--insecure", ref("by-docker"), *sources)
    docker_digest = last_line(docker(config, "push", ref("by-docker")))
    manifestor(config, "create", ref("by-manifestor"), *sources)
    our_digest = last_line(manifestor(config, "push", ref("by-manifestor")))

    theirs = served(client, "by-docker", repo)
    ours = served(client, "by-manifestor", repo)
    assert ours.raw == theirs.raw
    assert our_digest == docker_digest == sha256(ours.raw)
    assert ours.media_type == DOCKER_LIST
    # Both really authenticated as alice from config.json (Basic to the token server).
    assert token_server.requests
    assert {(r.user, r.status) for r in token_server.requests} == {("alice", 200)}


def test_the_docker_list_of_oci_children_docker_writes_is_refused_and_flagged(plain, tmp_path):
    """docker's first-entry rule makes a list Quay refuses: manifestor will not write it
    with --format docker, and `verify` flags the one docker pushed."""
    sources = [plain(t) for t in _source_tags(["w-a-windows", "w-b-ppc64le-oci"])]
    docker_dir, our_dir = tmp_path / "docker", tmp_path / "manifestor"
    docker_dir.mkdir()
    our_dir.mkdir()
    docker(docker_dir, "create", "--insecure", plain("mixed-by-docker"), *sources)
    docker(docker_dir, "push", plain("mixed-by-docker"))
    assert served(plain.client, "mixed-by-docker").media_type == DOCKER_LIST
    manifestor(our_dir, "create", plain("mixed-forced"), *sources)

    refused = _completed(
        [sys.executable, "-m", "manifestor", "push", "--format", "docker", plain("mixed-forced")],
        our_dir,
    )
    flagged = _completed(
        [sys.executable, "-m", "manifestor", "verify", plain("mixed-by-docker")], our_dir
    )

    assert refused.returncode == 2, refused.stderr
    assert "can hold only Docker image manifests" in refused.stderr
    assert flagged.returncode == 1, flagged.stdout
    assert "FAIL a Docker manifest list may hold only Docker manifests" in flagged.stdout


def _completed(argv: Sequence[str], config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), env=_environment(config_dir), capture_output=True, text=True, timeout=120
    )
