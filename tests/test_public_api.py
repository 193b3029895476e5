"""`import manifestor`: the documented surface, loaded lazily, and the README's library
example run as written against a real registry."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from clihelpers import push_arches

import manifestor

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_exported_name_resolves():
    missing = [name for name in manifestor.__all__ if getattr(manifestor, name, None) is None]
    assert missing == []
    assert sorted(dir(manifestor)) == sorted(manifestor.__all__)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        manifestor.nope  # noqa: B018


def test_importing_the_package_loads_no_network_code():
    code = "import sys, manifestor; print(manifestor.__version__); print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout
    for heavy in ("'requests'", "'urllib3'", "'yaml'", "'typer'", "'rich'"):
        assert heavy not in loaded


def test_package_is_typed():
    assert (Path(manifestor.__file__).parent / "py.typed").is_file()


def _readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Library") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.integration
def test_readme_library_example_publishes_and_verifies(registry_plain, monkeypatch, capsys):
    push_arches(registry_plain, "org/app", ("amd64", "arm64"))
    for arch in ("amd64", "arm64"):  # the example's source tags
        push_arches(registry_plain, "org/app", (arch,))
    example = _readme_example().replace('"registry.example.com"', repr(registry_plain.host))
    # The rig pushes tags named after the arch; point the example's tags at them.
    example = example.replace("org/app:1.4-amd64", "org/app:amd64").replace(
        "org/app:1.4-arm64", "org/app:arm64"
    )
    exec(compile(example, "README.md", "exec"), {})
    first = capsys.readouterr().out.split()
    assert first[0].startswith("sha256:") and first[1] == "pushed"
    exec(compile(example, "README.md", "exec"), {})  # a re-run changes nothing
    assert capsys.readouterr().out.split() == [first[0], "unchanged"]
