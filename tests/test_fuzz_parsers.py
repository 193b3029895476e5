"""Property tests: every parser of outside input, fed arbitrary input, either returns or raises
one of manifestor's own errors (a ManifestorError), never anything else.

The default run tries FUZZ_EXAMPLES inputs per parser (100; the fast run, `-m "not
integration"`, 10: tests/conftest.py); `scripts/fuzz.sh` runs the same tests with many more
(see the README for the figures seen)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifestor.errors import ManifestorError
from manifestor.local import keychain
from manifestor.local.layout import _from_index, open_local_images
from manifestor.local.specfile import load_spec
from manifestor.local.store import ManifestStore
from manifestor.model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    load_json,
    parse_manifest,
    sha256_digest,
    verified_chunks,
)
from manifestor.model.platform import Platform, parse_platform
from manifestor.model.reference import parse_reference
from manifestor.model.spec import parse_source_argument
from manifestor.remote import client as client_module
from manifestor.remote import replies
from manifestor.remote.auth import parse_challenges, parse_scope, pick_challenge, token_expiry
from manifestor.remote.deadline import parse_timeout
from manifestor.remote.retry import parse_retry_after
from manifestor.remote.urls import authority, join_url

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# -- strategies ---------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["sha256:" + "a" * 64, "sha256:../../x", "", "linux", "amd64", "\x00"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "mediaType",
        "digest",
        "size",
        "urls",
        "annotations",
        "platform",
        "artifactType",
        "os",
        "architecture",
        "variant",
        "os.features",
        "os.version",
    ]
)
MEDIA = st.sampled_from([DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX, "x", ""])
DIGEST = st.sampled_from(["sha256:" + "a" * 64, "sha256:" + "b" * 64]) | st.text(max_size=10)
DESCRIPTORS = st.fixed_dictionaries(
    {"mediaType": MEDIA, "digest": DIGEST, "size": SCALARS},
    optional={k: JSON_VALUES for k in ("urls", "annotations", "platform", "artifactType")},
) | st.dictionaries(KEYS, JSON_VALUES, max_size=6)
MANIFESTS = st.fixed_dictionaries(
    {"schemaVersion": st.sampled_from([2, 1, "2", None])},
    optional={
        "mediaType": MEDIA | JSON_VALUES,
        "config": DESCRIPTORS | JSON_VALUES,
        "layers": st.lists(DESCRIPTORS, max_size=3) | JSON_VALUES,
        "manifests": st.lists(DESCRIPTORS, max_size=3) | JSON_VALUES,
        "annotations": st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=3) | JSON_VALUES,
    },
)


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()


MANIFEST_BYTES = (
    st.binary(max_size=200)
    | MANIFESTS.map(_encode)
    | JSON_VALUES.map(_encode)
    | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))
)


def only_ours(function: Callable[..., object], *args: object) -> None:
    try:
        function(*args)
    except ManifestorError as error:
        assert str(error)


# -- model ---------------------------------------------------------------------------------


@FUZZ
@given(MANIFEST_BYTES, st.sampled_from([None, DOCKER_MANIFEST, OCI_INDEX, "text/plain", "a;b"]))
def test_parse_manifest(raw, content_type):
    only_ours(parse_manifest, raw, content_type)


@FUZZ
@given(DESCRIPTORS | JSON_VALUES)
def test_descriptor_from_json(value):
    try:
        descriptor = Descriptor.from_json(value)
    except ManifestorError:
        return
    assert 0 <= descriptor.size < 2**53
    json.dumps(descriptor.to_json())  # whatever was accepted can be written back


@FUZZ
@given(st.binary(max_size=100) | JSON_VALUES.map(_encode))
def test_load_json(raw):
    only_ours(load_json, raw, "input")


@FUZZ
@given(
    st.lists(st.binary(max_size=20), max_size=5),
    st.sampled_from(["sha256:" + "a" * 64, sha256_digest(b"abc"), "md5:x"]),
    st.none() | st.integers(min_value=0, max_value=60),
)
def test_verified_chunks(chunks, digest, size):
    try:
        passed = b"".join(verified_chunks(chunks, digest, size, "source"))
    except ManifestorError:
        return
    assert sha256_digest(passed) == digest and (size is None or len(passed) == size)


@FUZZ
@given(st.text(max_size=80))
def test_parse_reference_platform_and_source_argument(text):
    only_ours(parse_reference, text)
    only_ours(parse_platform, text)
    only_ours(parse_source_argument, text)


@FUZZ
@given(st.dictionaries(KEYS, JSON_VALUES, max_size=6))
def test_platform_from_json(value):
    only_ours(Platform.from_json, value)


# -- wire ----------------------------------------------------------------------------------

HEADER_TEXT = st.text(max_size=60) | st.sampled_from(
    ['Bearer realm="http://[::1/oops",service="x"', "Basic realm=x, Bearer", "², 1e9", "9" * 30]
)


@FUZZ
@given(st.lists(HEADER_TEXT, max_size=3))
def test_parse_challenges(headers):
    pick_challenge(parse_challenges(headers))  # tolerant: never raises


@FUZZ
@given(HEADER_TEXT)
def test_parse_retry_after(value):
    seconds = parse_retry_after(value)
    assert seconds is None or seconds >= 0


@FUZZ
@given(
    st.sampled_from(["http://reg:5000/v2/x", "https://[::1]:443/", "http://h"]),
    HEADER_TEXT | st.sampled_from(["http://[::1/oops", "//h:99999/x", "ftp://x", "http://h:-1"]),
)
def test_join_url_and_authority(base, reference):
    try:
        url = join_url(base, reference, "Location")
    except ManifestorError:
        return
    only_ours(authority, url)


@FUZZ
@given(HEADER_TEXT)
def test_parse_scope_and_timeout(text):
    only_ours(parse_scope, text)
    only_ours(parse_timeout, text, "--timeout")


@FUZZ
@given(st.dictionaries(st.sampled_from(["expires_in", "issued_at", "token"]), JSON_VALUES))
def test_token_expiry(payload):
    assert token_expiry(payload, 1_700_000_000.0) >= 1_700_000_000.0


@FUZZ
@given(MANIFEST_BYTES, HEADER_TEXT)
def test_registry_error_bodies_and_links(body, link):
    replies._parse_errors(body)
    client_module._next_link(link)


# -- this machine ---------------------------------------------------------------------------

CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "auths": st.dictionaries(
            st.text(max_size=10),
            st.dictionaries(
                st.sampled_from(["auth", "username", "password", "identitytoken"]),
                JSON_VALUES | st.text(max_size=12),
            )
            | JSON_VALUES,
            max_size=2,
        )
        | JSON_VALUES,
        "credHelpers": JSON_VALUES,
        "credsStore": JSON_VALUES,
    },
)


@FUZZ
@given(CONFIGS | JSON_VALUES)
def test_docker_config(document):
    only_ours(keychain._parse_config, document, "config.json")
    only_ours(keychain._parse_env_auths, json.dumps(document))


@FUZZ
@given(st.text(max_size=40), st.binary(max_size=80) | CONFIGS.map(_encode))
def test_auth_values_and_helper_output(auth, output):
    only_ours(keychain._decode_auth, auth, "config.json", "auth")
    only_ours(keychain._parse_env_auths, auth)
    only_ours(keychain._parse_helper_output, output, "docker-credential-x")


@pytest.fixture(scope="module")
def scratch() -> Path:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


ENTRY_FILES = st.binary(max_size=100) | st.dictionaries(
    st.sampled_from(["Ref", "Descriptor", "Raw", "Digest", "manifestorOrder", "SchemaV2Manifest"]),
    JSON_VALUES | DESCRIPTORS,
).map(_encode)


@FUZZ
@given(ENTRY_FILES)
def test_store_entry_files(scratch, data):
    list_ref = parse_reference("127.0.0.1:5000/app:v1")
    list_dir = scratch / "manifests" / "127.0.0.1-5000_app-v1"
    list_dir.mkdir(parents=True, exist_ok=True)
    (list_dir / "127.0.0.1-5000_app-1").write_bytes(data)
    store = ManifestStore(scratch)
    only_ours(store.get, list_ref)
    store.summaries()


class _Blobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def read(self, digest: str) -> bytes:
        from manifestor.errors import UsageError

        if digest not in self.blobs:
            raise UsageError(f"lacks blob {digest}")
        return self.blobs[digest]

    def body(self, digest: str, size: int | None) -> Any:
        raise AssertionError("not reached")


@FUZZ
@given(
    MANIFEST_BYTES | st.fixed_dictionaries({"manifests": JSON_VALUES}).map(_encode),
    MANIFEST_BYTES,
)
def test_layout_index(index, blob):
    digest = sha256_digest(blob)
    entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(blob)}
    _ = entry
    only_ours(_from_index, "oci:fuzz", _Blobs({digest: blob}), index)
    linked = json.dumps({"manifests": [entry]}).encode()
    only_ours(_from_index, "oci:fuzz", _Blobs({digest: blob}), linked)


def _tarball(members: list[tuple[str, bytes]], cut: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return raw[: max(1, len(raw) - cut)] if cut else raw


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["index.json", "oci-layout", "manifest.json", "../x", "/abs", "blobs/sha256/a"]
            ),
            MANIFEST_BYTES,
        ),
        max_size=4,
    ),
    st.integers(min_value=0, max_value=40),
    st.binary(max_size=60),
)
def test_archives(scratch, members, cut, junk):
    archive = scratch / "image.tar.gz"
    archive.write_bytes(_tarball(members, cut))
    only_ours(open_local_images, archive)
    archive.write_bytes(junk)
    only_ours(open_local_images, archive)


@FUZZ
@given(
    st.text(max_size=200)
    | st.sampled_from(["a: &a [x]\nb: *a\n", "image: [[[[[[\n", "image: x\nmanifests: 5\n"])
)
def test_spec_files(scratch, text):
    spec = scratch / "release.yaml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    only_ours(load_spec, spec)
