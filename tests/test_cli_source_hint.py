"""A SOURCE that names a file or folder here but has no `./` or `oci:` is a registry
reference, as in docker: the CLI says so before resolving it (no registry needed)."""

from __future__ import annotations

import pytest

from manifestor.cli.push import _hint_local_paths
from manifestor.errors import InvalidReferenceError
from manifestor.model.reference import parse_reference
from manifestor.model.spec import Release, parse_source_argument


def _release(*sources: str) -> list[Release]:
    target = parse_reference("reg.example.com/app:1")
    return [Release(target, tuple(parse_source_argument(s) for s in sources))]


def test_a_valid_name_that_is_also_a_local_folder_gets_a_note(tmp_path, monkeypatch):
    (tmp_path / "myimg").mkdir()
    monkeypatch.chdir(tmp_path)
    notes: list[str] = []

    _hint_local_paths(_release("myimg", "other"), notes.append)

    assert notes == [
        "note: myimg is read as the registry image docker.io/library/myimg:latest; "
        "for the local myimg, write ./myimg or oci:myimg"
    ]


def test_an_invalid_name_that_is_a_local_folder_is_refused_with_the_hint(tmp_path, monkeypatch):
    (tmp_path / "MyImg").mkdir()
    monkeypatch.chdir(tmp_path)

    with pytest.raises(InvalidReferenceError) as caught:
        _hint_local_paths(_release("MyImg"), lambda line: None)

    assert "./MyImg" in str(caught.value) and "oci:MyImg" in str(caught.value)


def test_prefixed_and_absent_paths_are_left_alone(tmp_path, monkeypatch):
    (tmp_path / "myimg").mkdir()
    monkeypatch.chdir(tmp_path)
    notes: list[str] = []

    _hint_local_paths(_release("./myimg", "oci:myimg", "absent"), notes.append)

    assert notes == []
