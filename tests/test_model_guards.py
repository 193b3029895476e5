"""Exact answers of the pure model where the other tests only check the kind of answer:
whole error messages (they are what the user reads, one line, with non-ASCII kept and
control characters escaped), source filters and attestation subjects. Written against the
survivors of a mutation run (scripts/mutation.sh)."""

from __future__ import annotations

import pytest

from manifestor.errors import InvalidPlatformError, InvalidReferenceError
from manifestor.model.entries import SourceFilter, describes
from manifestor.model.oci import DOCKER_MANIFEST, Descriptor
from manifestor.model.platform import Platform, parse_platform
from manifestor.model.reference import parse_reference

FORM = "expected os/arch[/variant], e.g. linux/arm64/v8"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "empty platform"),
        ("  ", "empty platform"),
        ("a/b/c/d", "too many components"),
        ("linux//arm64", "empty component"),
        ("linux/", "empty component"),
        ("linux", "missing architecture"),
        ("macos", "missing architecture"),
        ("linux/ärm", 'invalid characters in "ärm"'),
        ("li.nux/arm", 'invalid characters in "li.nux"'),
        ("sparc", '"sparc" is not a known architecture'),
    ],
)
def test_platform_parse_errors_are_whole_sentences(text, detail):
    with pytest.raises(InvalidPlatformError) as caught:
        parse_platform(text)
    assert str(caught.value) == f"invalid platform {_json(text)}: {detail}; {FORM}"


def test_a_platform_error_escapes_control_characters_and_keeps_non_ascii():
    with pytest.raises(InvalidPlatformError) as caught:
        parse_platform("lïnux/arm\n64")
    assert str(caught.value) == (
        'invalid platform "lïnux/arm\\n64": invalid characters in "arm\\n64"; ' + FORM
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"os": "lïnux", "architecture": 5},
            'invalid platform {"os":"lïnux","architecture":5}: architecture must be a string',
        ),
        (
            {"os": "linux", "architecture": "arm64", "os.features": "sse4"},
            'invalid platform {"os":"linux","architecture":"arm64","os.features":"sse4"}: '
            "os.features must be a list of strings",
        ),
        (
            {"os": "linux", "architecture": "arm64", "os.features": [1]},
            'invalid platform {"os":"linux","architecture":"arm64","os.features":[1]}: '
            "os.features must be a list of strings",
        ),
        (
            {"os": b"linux", "architecture": "arm64"},
            'invalid platform {"os":"b\'linux\'","architecture":"arm64"}: os must be a string',
        ),
    ],
    ids=["non-ascii", "features-not-list", "features-not-strings", "not-json-value"],
)
def test_platform_objects_with_wrong_types_are_shown_compactly(body, message):
    with pytest.raises(InvalidPlatformError) as caught:
        Platform.from_json(body)
    assert str(caught.value) == message


def test_reference_errors_keep_non_ascii_readable():
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference("r.example/äpp")
    assert str(caught.value) == (
        'invalid reference "r.example/äpp": repository name "äpp" contains invalid characters: "ä"'
    )


# -- source filters and attestation subjects --------------------------------------------------

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("selection", "platform", "attestation", "wanted"),
    [
        (SourceFilter(), AMD64, False, True),
        (SourceFilter(), None, False, True),
        (SourceFilter(), AMD64, True, False),
        (SourceFilter(keep_attestations=True), None, True, True),
        (SourceFilter((ARM64,)), Platform("linux", "arm64", "v8"), False, True),
        (SourceFilter((ARM64,)), AMD64, False, False),
        (SourceFilter((ARM64, AMD64)), AMD64, False, True),
        (SourceFilter((ARM64,)), None, False, False),
        (SourceFilter((ARM64,), keep_attestations=True), AMD64, True, True),
    ],
)
def test_a_source_filter_takes_the_platforms_asked_for(selection, platform, attestation, wanted):
    assert selection.wants(platform, attestation) is wanted


def _attestation(subject: str | None) -> Descriptor:
    annotations = {"vnd.docker.reference.digest": subject} if subject else None
    return Descriptor(DOCKER_MANIFEST, "sha256:" + "b" * 64, 1, None, annotations)


@pytest.mark.parametrize(
    ("subject", "images", "expected"),
    [
        ("sha256:1", {"sha256:1", "sha256:2"}, True),
        ("sha256:3", {"sha256:1"}, False),
        ("sha256:3", set(), False),
        (None, {"sha256:1"}, True),
        (None, set(), False),
    ],
)
def test_an_attestation_goes_with_its_subject_or_with_any_image(subject, images, expected):
    assert describes(_attestation(subject), images) is expected


def _json(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
