"""Release specs, source arguments and name templates (pure parsing)."""

from __future__ import annotations

import textwrap

import pytest

from manifestor.errors import InvalidPlatformError, SpecError, UsageError
from manifestor.model.platform import Platform
from manifestor.model.spec import expand_template, load_spec, parse_source_argument


def _spec(tmp_path, text: str):
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_spec_with_two_releases_gives_two_releases_in_order(tmp_path):
    path = _spec(
        tmp_path,
        """\
        image: reg.example:5000/org/app:1.4
        tags: ['1', latest]
        annotations:
          org.opencontainers.image.version: "1.4"
        manifests:
          - image: reg.example:5000/org/app:1.4-amd64
            platform: {architecture: amd64, os: linux}
          - image: reg.example:5000/org/app:1.4-arm64
            platform:
              architecture: arm64
              os: linux
              variant: v8
            annotations: {built-on: arm64-runner}
        ---
        image: reg.example:5000/org/tool:2.0
        manifests:
          - image: reg.example:5000/org/tool:2.0-amd64
          - image: oci:./build/tool-arm64
        """,
    )
    first, second = load_spec(path)
    assert str(first.target) == "reg.example:5000/org/app:1.4"
    assert first.tags == ("1", "latest")
    assert first.annotations == {"org.opencontainers.image.version": "1.4"}
    assert [s.platform for s in first.sources] == [
        Platform("linux", "amd64"),
        Platform("linux", "arm64", "v8"),
    ]
    assert first.sources[1].annotations == {"built-on": "arm64-runner"}
    assert str(second.target) == "reg.example:5000/org/tool:2.0"
    assert second.sources[0].platform is None
    assert second.sources[1].local_path == "./build/tool-arm64"


def test_yaml_numbers_stay_strings_for_tags(tmp_path):
    path = _spec(
        tmp_path, "image: r.example/a:1\ntags: [1.0, 2]\nmanifests: [{image: r.example/a:x}]\n"
    )
    assert load_spec(path)[0].tags == ("1.0", "2")


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("manifests: [{image: r.example/a:x}]\n", ":1:", "'image' is missing"),
        ("image: r.example/a:1\nmanifests: []\n", ":2:", "non-empty list"),
        ("image: r.example/a:1\nmanifests:\n  - image: r.example/Bad:x\n", ":3:", "lowercase"),
        (
            "image: r.example/a:1\nmanifests:\n  - platform: linux/amd64\n",
            ":3:",
            "image is missing",
        ),
        (
            "image: r.example/a:1\nmanifests:\n  - image: r.example/a:x\n"
            "    platform: {os: linux}\n",
            ":4:",
            "architecture is missing",
        ),
        (
            "image: r.example/a:1\nmanifests:\n  - image: r.example/a:x\n"
            "    platfrom: linux/amd64\n",
            ":4:",
            "unknown field manifests[0].'platfrom'",
        ),
        ("image: r.example/a:1\nmanifests: [\n", ":", "not valid YAML"),
        ("image: [a, b]\nmanifests: [{image: r.example/a:x}]\n", ":1:", "image must be"),
    ],
)
def test_spec_errors_name_file_line_and_field(tmp_path, text, where, words):
    path = _spec(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(str(path) + where), message
    assert words in message
    assert "\n" not in message


def test_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "nope.yaml")


def test_source_argument_may_state_a_platform():
    spec = parse_source_argument("reg.example/app:1.4-arm64=linux/aarch64")
    assert spec.text == "reg.example/app:1.4-arm64"
    assert spec.platform == Platform("linux", "arm64")
    assert parse_source_argument("reg.example/app:1.4").platform is None
    with pytest.raises(InvalidPlatformError):
        parse_source_argument("reg.example/app:1=linux/")


def test_local_sources_are_recognised_by_prefix_or_path():
    assert parse_source_argument("oci:build/amd64").local_path == "build/amd64"
    assert parse_source_argument("oci-archive:out.tar").local_path == "out.tar"
    assert parse_source_argument("docker-archive:/tmp/x.tar").local_path == "/tmp/x.tar"
    assert parse_source_argument("./build/amd64").local_path == "./build/amd64"
    assert parse_source_argument("build/amd64").local_path is None  # a Hub reference


def test_template_replaces_os_arch_variant_like_manifest_tool():
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm", "v7")]
    sources = expand_template("reg.example/app:1.4-OS-ARCHVARIANT", platforms)
    assert [s.text for s in sources] == [
        "reg.example/app:1.4-linux-amd64",
        "reg.example/app:1.4-linux-armv7",
    ]
    assert [s.platform for s in sources] == platforms


def test_template_without_placeholders_is_refused():
    with pytest.raises(UsageError, match="placeholders"):
        expand_template("reg.example/app:1.4", [Platform("linux", "amd64")])
