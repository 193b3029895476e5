"""Bad files and settings from this machine, and the run's time limit, end in one line:
credentials that are not base64 of UTF-8, layouts and archives that lie or end early,
specs too large or too clever, and a registry that never answers a run with --timeout."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from fakereg import AuthConfig, FakeRegistry, delay

from manifestor.errors import (
    ArchiveError,
    CredentialsError,
    ManifestFormatError,
    ManifestorError,
    SpecError,
)
from manifestor.local.keychain import Keychain
from manifestor.local.layout import open_local_images
from manifestor.local.specfile import load_spec
from manifestor.model.oci import sha256_digest
from manifestor.model.spec import MAX_SPEC_ALIASES, MAX_SPEC_BYTES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "images"


def _one_line(error: BaseException) -> str:
    assert isinstance(error, ManifestorError)
    assert str(error) and "\n" not in str(error)
    return str(error)


def _manifestor(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "manifestor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


# -- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["dXNlcjpwYXNz\u00e9", "\u00fcser:pass", "////", "dXNlcg=="])
def test_bad_auth_values_in_config_json_are_credentials_errors(tmp_path, auth):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"reg.example": {"auth": auth}}}))
    with pytest.raises(CredentialsError) as caught:
        Keychain(tmp_path, environ={}).resolve("reg.example")
    assert "auths['reg.example'].auth" in _one_line(caught.value)


def test_non_ascii_auth_in_docker_auth_config_is_a_credentials_error(tmp_path):
    value = json.dumps({"auths": {"reg.example": {"auth": "\u00e9t\u00e9"}}})
    keychain = Keychain(tmp_path, environ={"DOCKER_AUTH_CONFIG": value})
    with pytest.raises(CredentialsError) as caught:
        keychain.resolve("reg.example")
    assert "DOCKER_AUTH_CONFIG" in _one_line(caught.value)


@pytest.mark.integration  # the CLI as a subprocess
def test_cli_with_non_ascii_auth_prints_one_line(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"127.0.0.1": {"auth": "\u00e9"}}}), encoding="utf-8"
    )
    with FakeRegistry(auth=AuthConfig("basic", {"u": "p"})) as reg:
        (tmp_path / "config.json").write_text(
            json.dumps({"auths": {reg.host: {"auth": "\u00e9"}}}), encoding="utf-8"
        )
        done = _manifestor("--config", str(tmp_path), "inspect", f"{reg.host}/team/app:1")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "is not base64 of UTF-8 text" in done.stderr


# -- layouts and archives -----------------------------------------------------------------


def _layout_with_layer_size(tmp_path: Path, size: object) -> Path:
    layout = tmp_path / "layout"
    shutil.copytree(FIXTURES / "linux-amd64", layout)
    index = json.loads((layout / "index.json").read_bytes())
    old = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / old[7:]).read_bytes())
    manifest["layers"][0]["size"] = size
    raw = json.dumps(manifest).encode()
    (layout / "blobs" / "sha256" / sha256_digest(raw)[7:]).write_bytes(raw)
    index["manifests"][0].update(digest=sha256_digest(raw), size=len(raw))
    (layout / "index.json").write_text(json.dumps(index))
    return layout


@pytest.mark.parametrize("size", [-1, 1e30, "12", None, 2**60])
def test_layout_with_a_bad_layer_size_is_refused(tmp_path, size):
    with pytest.raises(ManifestFormatError) as caught:
        open_local_images(_layout_with_layer_size(tmp_path, size))
    assert "size" in _one_line(caught.value)


def test_layout_blob_larger_than_its_descriptor_is_refused_before_upload(tmp_path):
    layout = tmp_path / "layout"
    shutil.copytree(FIXTURES / "linux-amd64", layout)
    [image] = open_local_images(layout)
    layer = image.manifest.layers[0]
    with (layout / "blobs" / "sha256" / layer.digest[7:]).open("ab") as blob:
        blob.write(b"!")
    with pytest.raises(ArchiveError) as caught:
        image.blobs.body(layer.digest, layer.size)
    assert "descriptor states" in _one_line(caught.value)


def test_index_json_with_wrong_types_is_refused(tmp_path):
    layout = tmp_path / "layout"
    shutil.copytree(FIXTURES / "linux-amd64", layout)
    for index in (
        '{"manifests": 5}',
        '{"manifests": [5]}',
        "[1]",
        '{"manifests":[{"size":1e400}]}',
    ):
        (layout / "index.json").write_text(index)
        with pytest.raises(ManifestFormatError) as caught:
            open_local_images(layout)
        _one_line(caught.value)


def _oci_archive(layout: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        padding = os.urandom(64 * 1024)  # incompressible, so every cut lands before the end
        info = tarfile.TarInfo("aaa-padding")
        info.size = len(padding)
        tar.addfile(info, io.BytesIO(padding))
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    return buffer.getvalue()


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.99])
def test_truncated_tar_gz_archive_is_one_line(tmp_path, keep):
    packed = gzip.compress(_oci_archive(FIXTURES / "linux-amd64"))
    archive = tmp_path / "image.tar.gz"
    archive.write_bytes(packed[: int(len(packed) * keep)])
    with pytest.raises(ManifestorError) as caught:
        images = open_local_images(archive)
        for image in images:  # a cut past the index still fails when the blobs are read
            for blob in image.manifest.blobs():
                b"".join(image.blobs.body(blob.digest, blob.size).open())
    assert "truncated" in _one_line(caught.value) or "ends early" in str(caught.value)


@pytest.mark.parametrize("name", ["../../etc/evil", "/abs/index.json", "blobs/../../x"])
def test_archive_member_escaping_its_root_is_refused(tmp_path, name):
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ArchiveError) as caught:
        open_local_images(archive)
    assert "unsafe path" in _one_line(caught.value)


# -- specs --------------------------------------------------------------------------------


def test_spec_over_the_size_limit_is_refused_before_parsing(tmp_path):
    spec = tmp_path / "release.yaml"
    spec.write_text("image: reg.example/app:1\n" + "# padding\n" * (MAX_SPEC_BYTES // 10))
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert "larger than" in _one_line(caught.value)
    assert time.monotonic() - started < 1


def test_spec_with_too_many_aliases_is_refused(tmp_path):
    spec = tmp_path / "release.yaml"
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    spec.write_text("\n".join(laughs) + "\nimage: reg.example/app:1\n")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert f"more than {MAX_SPEC_ALIASES} aliases" in _one_line(caught.value)


# -- the run's time limit -----------------------------------------------------------------


@pytest.mark.integration  # the CLI as a subprocess, waiting for its --timeout
@pytest.mark.parametrize("how", ["option", "environment"])
def test_run_against_a_registry_that_never_answers_ends_at_its_timeout(tmp_path, how):
    with FakeRegistry() as reg:
        reg.script((None, r"."), delay(120), times=None)
        args = ["--config", str(tmp_path), "inspect", f"{reg.host}/team/app:1"]
        env = {"MANIFESTOR_TIMEOUT": "1.5"} if how == "environment" else {}
        if how == "option":
            args = ["--timeout", "1.5s", *args]
        started = time.monotonic()
        done = _manifestor(*args, env=env)
        took = time.monotonic() - started
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "--timeout" in done.stderr
    assert took < 1.5 + 4  # the budget plus interpreter start-up and a moment


@pytest.mark.integration  # the CLI as a subprocess
def test_bad_timeout_value_is_a_usage_error(tmp_path):
    done = _manifestor("--timeout", "soon", "ls", env={"DOCKER_CONFIG": str(tmp_path)})
    assert done.returncode == 2 and "is not a duration" in done.stderr
