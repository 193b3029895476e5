"""`manifestor push --spec release.yaml`: manifest-tool's YAML (`image`, `tags`,
`manifests[].image`, `manifests[].platform`) with several documents for several
releases, index and entry annotations; mistakes in the file are one line naming
file:line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from clihelpers import (
    assert_one_line_error,
    assert_pullable,
    push_arches,
    ref,
    repo_for,
)
from oneshothelpers import (
    OCI_INDEX,
    assert_served_list,
    image_entry,
    layout_copy,
    layout_entry,
    tag_absent,
    writes,
)

pytestmark = pytest.mark.integration


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_spec_with_two_releases_publishes_both_with_their_tags_and_annotations(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64", "armv7"))
    layout = layout_copy("linux-arm64-v8", tmp_path / "tool-arm64")
    spec = _spec(
        tmp_path,
        f"""\
        # app 1.4 and its tool, as one release job
        image: {host}/{repo}:1.4
        tags: ["1", latest]
        annotations:
          org.opencontainers.image.version: "1.4"
          org.opencontainers.image.source: https://example.invalid/app
        manifests:
          - image: {host}/{repo}:amd64
            platform: {{os: linux, architecture: amd64}}
          - image: {host}/{repo}:arm64
            platform: linux/arm64/v8
            annotations:
              built-on: arm64-runner
        ---
        image: {host}/{repo}-tool:2.0
        manifests:
          - image: oci:{layout}
          - image: {host}/{repo}:armv7
            annotations: {{org.example.note: from the app repository}}
        """,
    )

    result = cli.ok("push", "--spec", str(spec))

    app_line, tool_line = result.stdout_lines
    app_digest, app_target = app_line.split(" ")
    tool_digest, tool_target = tool_line.split(" ")
    assert (app_target, tool_target) == (f"{host}/{repo}:1.4", f"{host}/{repo}-tool:2.0")
    rig = rig_client(registry_plain)
    for tag in ("1.4", "1", "latest"):
        assert_served_list(
            rig,
            repo,
            tag,
            digest=app_digest,
            media_type=OCI_INDEX,
            manifests=[
                image_entry(images["amd64"]),
                image_entry(images["arm64"], annotations={"built-on": "arm64-runner"}),
            ],
            annotations={
                "org.opencontainers.image.version": "1.4",
                "org.opencontainers.image.source": "https://example.invalid/app",
            },
        )
    assert_served_list(
        rig,
        f"{repo}-tool",
        "2.0",
        digest=tool_digest,
        media_type=OCI_INDEX,
        manifests=[
            layout_entry(layout),
            image_entry(
                images["armv7"], annotations={"org.example.note": "from the app repository"}
            ),
        ],
    )
    assert rig.list_tags(f"{repo}-tool") == ["2.0"]
    assert_pullable(f"{host}/{repo}:latest", tmp_path)
    assert_pullable(f"{host}/{repo}-tool:2.0", tmp_path)


def test_tag_and_annotation_options_add_to_every_release_of_a_spec(
    cli, registry_plain, repo, rig_client, tmp_path
):
    host = registry_plain.host
    images = push_arches(registry_plain, repo, ("amd64", "arm64"))
    spec = _spec(
        tmp_path,
        f"""\
        image: {host}/{repo}:1.4
        annotations: {{from-spec: "yes"}}
        manifests: [{{image: "{host}/{repo}:amd64"}}]
        ---
        image: {host}/{repo}-other:1.4
        manifests: [{{image: "{host}/{repo}:arm64"}}]
        """,
    )

    result = cli.ok("push", "--spec", str(spec), "--tag", "stable", "--annotation", "ci=42")

    [(first, _), (second, _)] = [line.split(" ") for line in result.stdout_lines]
    rig = rig_client(registry_plain)
    for tag in ("1.4", "stable"):
        assert_served_list(
            rig,
            repo,
            tag,
            digest=first,
            media_type=OCI_INDEX,
            manifests=[image_entry(images["amd64"])],
            annotations={"from-spec": "yes", "ci": "42"},
        )
        assert_served_list(
            rig,
            f"{repo}-other",
            tag,
            digest=second,
            media_type=OCI_INDEX,
            manifests=[image_entry(images["arm64"])],
            annotations={"ci": "42"},
        )


def test_a_contradicted_platform_in_any_release_of_a_spec_publishes_no_release(
    cli, registry_plain, repo, fault_proxy, rig_client, tmp_path
):
    """The spec is one release job: a wrong image in the second release must not leave
    the first one published."""
    proxy = fault_proxy(registry_plain)
    host = proxy.host
    push_arches(registry_plain, repo, ("amd64", "arm64"))
    spec = _spec(
        tmp_path,
        f"""\
        image: {host}/{repo}:app
        manifests:
          - image: {host}/{repo}:amd64
            platform: linux/amd64
        ---
        image: {host}/{repo}:tool
        manifests:
          - image: {host}/{repo}:amd64
            platform: linux/arm64
        """,
    )
    proxy.reset()

    result = cli.run("push", "--spec", str(spec))

    assert_one_line_error(result, 1, "linux/arm64", "linux/amd64")
    assert writes(proxy) == []
    rig = rig_client(registry_plain)
    assert tag_absent(rig, repo, "tool")
    assert tag_absent(rig, repo, "app")


SPEC_MISTAKES = {
    "unknown-field": (
        """\
        image: {target}
        manifests:
          - image: {source}
            platfrom: linux/amd64
        """,
        4,
        ["manifests[0]", "platfrom"],
    ),
    "unknown-platform": (
        """\
        image: {target}
        manifests:
          - image: {source}
          - image: {source}
            platform: {{os: linux, architecture: amr64}}
        """,
        5,
        ["manifests[1].platform", "amr64"],
    ),
    "missing-image-in-second-release": (
        """\
        image: {target}
        manifests: [{{image: "{source}"}}]
        ---
        tags: [x]
        manifests: [{{image: "{source}"}}]
        """,
        4,
        ["image", "missing"],
    ),
    "tags-not-a-list": (
        """\
        image: {target}
        tags: {{a: b}}
        manifests: [{{image: "{source}"}}]
        """,
        2,
        ["tags"],
    ),
    "bad-source-reference": (
        """\
        image: {target}
        manifests:
          - image: {source}
          - image: "{source}:Not A Tag"
        """,
        4,
        ["manifests[1].image"],
    ),
    "not-yaml": (
        """\
        image: {target}
        manifests: [{{image: "{source}"}}
        tags: [x]
        """,
        None,
        ["YAML"],
    ),
}


@pytest.mark.parametrize("case", SPEC_MISTAKES, ids=list(SPEC_MISTAKES))
def test_a_mistake_in_the_spec_is_one_line_naming_file_line_and_field(
    cli, registry_plain, rig_client, request, tmp_path, case
):
    repo = repo_for(request)
    text, line, fragments = SPEC_MISTAKES[case]
    host = registry_plain.host
    spec = _spec(
        tmp_path, text.format(target=ref(host, repo, "1"), source=ref(host, repo, "amd64"))
    )

    result = cli.run("push", "--spec", str(spec))

    where = f"{spec}:{line}" if line else f"{spec}:"
    assert_one_line_error(result, 2, where, *fragments)
    assert tag_absent(rig_client(registry_plain), repo, "1")


def test_spec_mistakes_in_use_are_usage_errors(cli, registry_plain, repo, tmp_path):
    host = registry_plain.host
    missing = tmp_path / "nope.yaml"
    spec = _spec(tmp_path, f"image: {host}/{repo}:1\nmanifests: [{{image: {host}/{repo}:a}}]\n")

    no_file, with_target = cli.run_many(
        ["push", "--spec", str(missing)],
        ["push", ref(host, repo, "1"), "--spec", str(spec)],
    )

    assert_one_line_error(no_file, 2, str(missing))
    assert_one_line_error(with_target, 2, "--spec")
