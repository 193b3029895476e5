"""`ls` shows lists docker created by their real names: local/store.py decodes docker's
lossy directory names (`/` → `_`, `:` → `-`), preferring the decoding the entries support,
so `inspect` and `rm` accept what `ls` prints."""

from __future__ import annotations

import pytest

from manifestor.local.store import decode_store_name, docker_store_name


@pytest.mark.parametrize(
    ("directory", "entries", "name"),
    [
        ("docker.io_library_ubuntu-latest", [], "docker.io/library/ubuntu:latest"),
        ("127.0.0.1-5000_app-v1", [], "127.0.0.1:5000/app:v1"),
        ("localhost-5000_org_app-1.0", [], "localhost:5000/org/app:1.0"),
        # A hyphen in the repository and one in the tag: the entries tell which is which.
        ("reg.io_my-app-1.0-rc1", ["reg.io/my-app:1.0-rc1-amd64"], "reg.io/my-app:1.0-rc1"),
        ("reg.io_my-app-1.0-rc1", ["reg.io/my-app-1.0:x"], "reg.io/my-app-1.0:rc1"),
        # Without entries: the longest repository path.
        ("reg.io_my-app-1.0", [], "reg.io/my-app:1.0"),
        # Many hyphens are no problem: one of them is the tag's colon.
        (
            "127.0.0.1-5000_cli_a-b-c-d-e-f-g-h-i-j-1.0-rc1",
            ["127.0.0.1:5000/cli/a-b-c-d-e-f-g-h-i-j:amd64"],
            "127.0.0.1:5000/cli/a-b-c-d-e-f-g-h-i-j:1.0-rc1",
        ),
    ],
)
def test_docker_directory_names_decode_to_the_list_name(directory, entries, name):
    assert decode_store_name(directory, entries) == name
    assert docker_store_name(name) == directory  # so the name finds the same directory


@pytest.mark.parametrize("directory", ["garbage", "-_-", "a" + "_b" * 11 + "-t"])
def test_a_name_that_no_reference_encodes_to_is_not_decoded(directory):
    assert decode_store_name(directory) is None
