"""Platform parsing, containerd-style normalisation, matching, JSON shape and the known
os/arch table."""

from __future__ import annotations

import json

import pytest

from manifestor.errors import InvalidPlatformError, UsageError
from manifestor.model.platform import (
    KNOWN_PLATFORMS,
    Platform,
    is_attestation_platform,
    normalize_arch,
    normalize_os,
    parse_platform,
    platforms_match,
    validate_platform,
)

# docker/cli's validOSArches (docker-manifest.md §1.2): every one must stay valid.
DOCKER_PAIRS = [
    "darwin/386",
    "darwin/amd64",
    "darwin/arm",
    "darwin/arm64",
    "dragonfly/amd64",
    "freebsd/386",
    "freebsd/amd64",
    "freebsd/arm",
    "linux/386",
    "linux/amd64",
    "linux/arm",
    "linux/arm64",
    "linux/ppc64le",
    "linux/mips64",
    "linux/mips64le",
    "linux/riscv64",
    "linux/s390x",
    "netbsd/386",
    "netbsd/amd64",
    "netbsd/arm",
    "openbsd/386",
    "openbsd/amd64",
    "openbsd/arm",
    "plan9/386",
    "plan9/amd64",
    "solaris/amd64",
    "windows/386",
    "windows/amd64",
]

# Pairs docker refuses that real images use.
BEYOND_DOCKER = [
    "linux/loong64",
    "linux/ppc64",
    "linux/mips",
    "linux/mipsle",
    "windows/arm64",
    "windows/arm",
    "freebsd/arm64",
    "freebsd/riscv64",
    "openbsd/arm64",
    "netbsd/arm64",
    "android/arm64",
    "illumos/amd64",
    "aix/ppc64",
    "js/wasm",
    "wasip1/wasm",
    "ios/arm64",
]


def malformed(text: str) -> str:
    """The message parse_platform raises for `text`, checked to be one line."""
    with pytest.raises(InvalidPlatformError) as caught:
        parse_platform(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def unsupported(platform: Platform) -> str:
    with pytest.raises(InvalidPlatformError) as caught:
        validate_platform(platform)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- parse_platform --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("windows/amd64", Platform("windows", "amd64")),
        ("  Linux/AMD64  ", Platform("linux", "amd64")),
        ("LINUX/ARM64/V8", Platform("linux", "arm64", "v8")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/x86-64", Platform("linux", "amd64")),
        ("linux/x86_64/v3", Platform("linux", "amd64", "v3")),
        ("linux/amd64/v1", Platform("linux", "amd64", "v1")),
        ("linux/amd64/2", Platform("linux", "amd64", "v2")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("linux/aarch64/8", Platform("linux", "arm64", "v8")),
        ("linux/arm64/8", Platform("linux", "arm64", "v8")),
        ("linux/arm", Platform("linux", "arm")),
        ("linux/arm/7", Platform("linux", "arm", "v7")),
        ("linux/arm/6", Platform("linux", "arm", "v6")),
        ("linux/armhf", Platform("linux", "arm", "v7")),
        ("linux/armel", Platform("linux", "arm", "v6")),
        ("linux/armv7l", Platform("linux", "arm", "v7")),
        ("linux/i686", Platform("linux", "386")),
        ("linux/riscv64", Platform("linux", "riscv64")),
        ("macos/arm64", Platform("darwin", "arm64")),
        ("unknown/unknown", Platform("unknown", "unknown")),
        ("linux/ppc64le", Platform("linux", "ppc64le")),
        # A lone architecture means Linux (containerd would pick the host OS).
        ("arm64", Platform("linux", "arm64")),
        ("x86_64", Platform("linux", "amd64")),
        ("armhf", Platform("linux", "arm", "v7")),
    ],
)
def test_parse_platform(text: str, expected: Platform):
    assert parse_platform(text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "empty platform"),
        ("   ", "empty platform"),
        ("linux", "missing architecture"),
        ("Windows", "missing architecture"),
        ("linux/", "empty component"),
        ("/amd64", "empty component"),
        ("linux//v7", "empty component"),
        ("linux/arm/", "empty component"),
        ("a/b/c/d", "too many components"),
        ("linux/arm64/v8/x", "too many components"),
        ("wasm", '"wasm" is not a known architecture'),
        ("x86", '"x86" is not a known architecture'),
        ("linux/x 86", 'invalid characters in "x 86"'),
        ("li.nux/amd64", 'invalid characters in "li.nux"'),
        ("linux/amd64/v8+", 'invalid characters in "v8+"'),
        ("windows(10.0.17763)/amd64", "invalid characters"),
        ("linux/*", "invalid characters"),
    ],
)
def test_malformed_platform_says_what_and_shows_the_form(text: str, detail: str):
    message = malformed(text)
    assert message.startswith(f"invalid platform {json.dumps(text)}: ")
    assert detail in message
    assert "expected os/arch[/variant]" in message


def test_malformed_platform_message_escapes_newlines():
    assert 'invalid platform "linux/amd64\\n/x"' in malformed("linux/amd64\n/x")


def test_parse_does_not_check_the_known_table():
    assert parse_platform("plan9/wasm") == Platform("plan9", "wasm")


def test_platform_errors_are_usage_errors():
    with pytest.raises(UsageError) as caught:
        parse_platform("linux")
    assert caught.value.exit_code == 2


# --- normalize_os / normalize_arch -----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Linux", "linux"),
        (" WINDOWS ", "windows"),
        ("macos", "darwin"),
        ("MacOS", "darwin"),
        ("", ""),
    ],
)
def test_normalize_os(given: str, expected: str):
    assert normalize_os(given) == expected


@pytest.mark.parametrize(
    ("arch", "variant", "expected"),
    [
        ("amd64", None, ("amd64", None)),
        ("x86_64", None, ("amd64", None)),
        ("x86-64", None, ("amd64", None)),
        ("X86_64", None, ("amd64", None)),
        ("x86_64", "v2", ("amd64", "v2")),
        ("amd64", "v1", ("amd64", "v1")),
        ("amd64", "4", ("amd64", "v4")),
        ("aarch64", None, ("arm64", None)),
        ("arm64", None, ("arm64", None)),
        ("arm64", "v8", ("arm64", "v8")),
        ("arm64", "8", ("arm64", "v8")),
        ("arm64", "V8", ("arm64", "v8")),
        ("aarch64", "v9", ("arm64", "v9")),
        ("arm", None, ("arm", None)),
        ("arm", "7", ("arm", "v7")),
        ("arm", "5", ("arm", "v5")),
        ("arm", "v6", ("arm", "v6")),
        ("armhf", None, ("arm", "v7")),
        ("armhf", "v6", ("arm", "v7")),
        ("armel", None, ("arm", "v6")),
        ("armv7", None, ("arm", "v7")),
        ("armv7l", None, ("arm", "v7")),
        ("armv6", None, ("arm", "v6")),
        ("armv6l", None, ("arm", "v6")),
        ("armv5", None, ("arm", "v5")),
        ("armv5l", None, ("arm", "v5")),
        ("armv5tel", None, ("arm", "v5")),
        ("386", None, ("386", None)),
        ("i386", None, ("386", None)),
        ("i486", None, ("386", None)),
        ("i586", None, ("386", None)),
        ("i686", None, ("386", None)),
        ("i386", "v7", ("386", None)),
        ("loongarch64", None, ("loong64", None)),
        ("ppc64el", None, ("ppc64le", None)),
        ("mips64el", None, ("mips64le", None)),
        ("s390x", "", ("s390x", None)),
        ("riscv64", "RVA22", ("riscv64", "rva22")),
        ("mips", "1", ("mips", "1")),
    ],
)
def test_normalize_arch(arch: str, variant: str | None, expected: tuple[str, str | None]):
    assert normalize_arch(arch, variant) == expected


# --- platforms_match -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/armhf", "linux/arm"),
        ("linux/armv7l", "linux/arm/7"),
        ("linux/amd64", "linux/amd64/v1"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/i686", "linux/386"),
        ("macos/arm64", "darwin/arm64/v8"),
    ],
)
def test_equivalent_platforms_match(a: str, b: str):
    assert platforms_match(parse_platform(a), parse_platform(b))
    assert platforms_match(parse_platform(b), parse_platform(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("linux/arm64", "linux/arm64/v9"),
        ("linux/arm", "linux/arm/v6"),
        ("linux/armel", "linux/armhf"),
        ("linux/amd64", "linux/amd64/v2"),
        ("linux/amd64", "windows/amd64"),
        ("linux/amd64", "linux/arm64"),
        ("linux/arm", "linux/arm64"),
        ("linux/riscv64", "linux/riscv64/rva22"),
    ],
)
def test_different_platforms_do_not_match(a: str, b: str):
    assert not platforms_match(parse_platform(a), parse_platform(b))


def test_match_normalises_platforms_read_from_json():
    stored = Platform.from_json({"architecture": "aarch64", "os": "Linux"})
    assert platforms_match(stored, parse_platform("linux/arm64/v8"))


def test_match_ignores_os_version_and_features():
    a = Platform("windows", "amd64", os_version="10.0.17763.1", os_features=("win32k",))
    assert platforms_match(a, Platform("windows", "amd64"))


# --- JSON ------------------------------------------------------------------------------


def test_to_json_key_order_matches_docker_and_oci():
    platform = Platform(
        "windows", "arm64", variant="v8", os_version="10.0.26100.1", os_features=("win32k",)
    )
    assert list(platform.to_json()) == [
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
    ]
    assert json.dumps(platform.to_json(), separators=(",", ":")) == (
        '{"architecture":"arm64","os":"windows","os.version":"10.0.26100.1",'
        '"os.features":["win32k"],"variant":"v8"}'
    )


def test_to_json_omits_unset_fields():
    assert Platform("linux", "amd64").to_json() == {"architecture": "amd64", "os": "linux"}
    assert Platform("linux", "arm", variant="", os_version="").to_json() == {
        "architecture": "arm",
        "os": "linux",
    }


def test_from_json_reads_every_field_without_normalising():
    body = {
        "architecture": "x86_64",
        "os": "Linux",
        "os.version": "1",
        "os.features": ["a", "b"],
        "variant": "V2",
    }
    assert Platform.from_json(body) == Platform("Linux", "x86_64", "V2", "1", ("a", "b"))


def test_from_json_round_trips():
    platform = Platform("windows", "amd64", None, "10.0.17763.1", ("win32k",))
    assert Platform.from_json(platform.to_json()) == platform


def test_from_json_tolerates_missing_keys():
    assert Platform.from_json({}) == Platform("", "")
    assert Platform.from_json({"os": "linux"}) == Platform("linux", "")
    assert Platform.from_json({"architecture": "arm", "os": "linux", "variant": ""}).variant is None


@pytest.mark.parametrize(
    "body",
    [{"os": 1}, {"architecture": ["amd64"]}, {"os.features": "win32k"}, {"os.features": [1]}],
)
def test_from_json_refuses_wrong_types(body: dict[str, object]):
    with pytest.raises(InvalidPlatformError, match="must be"):
        Platform.from_json(body)


def test_str_is_os_arch_and_variant():
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(Platform("linux", "amd64", os_version="x")) == "linux/amd64"


def test_platform_is_frozen_and_hashable():
    platform = parse_platform("linux/arm64")
    with pytest.raises(AttributeError):
        platform.os = "windows"  # type: ignore[misc]
    assert len({platform, parse_platform("linux/aarch64")}) == 1


# --- known table and validation --------------------------------------------------------


@pytest.mark.parametrize("pair", DOCKER_PAIRS + BEYOND_DOCKER)
def test_known_pairs_are_valid(pair: str):
    os, arch = pair.split("/")
    validate_platform(Platform(os, arch))
    validate_platform(Platform(os, arch, variant="anything"))


def test_table_holds_all_of_dockers_28_pairs():
    assert len(DOCKER_PAIRS) == 28
    for pair in DOCKER_PAIRS:
        os, arch = pair.split("/")
        assert arch in KNOWN_PLATFORMS[os]


def test_known_table_is_read_only():
    with pytest.raises(TypeError):
        KNOWN_PLATFORMS["haiku"] = frozenset({"amd64"})  # type: ignore[index]


def test_unknown_arch_names_the_pair_and_lists_arches_for_the_os():
    message = unsupported(Platform("linux", "x86"))
    assert message == (
        'unsupported platform "linux/x86": architecture "x86" is not known for os "linux"; '
        "accepted: 386, amd64, arm, arm64, loong64, mips, mips64, mips64le, mipsle, ppc64, "
        "ppc64le, riscv64, s390x"
    )


def test_unknown_os_lists_accepted_oses():
    message = unsupported(Platform("haiku", "amd64"))
    assert message.startswith('unsupported platform "haiku/amd64": os "haiku" is not known; ')
    assert "accepted: aix, android, darwin," in message and "windows" in message


def test_validation_points_at_the_canonical_spelling_of_an_alias():
    assert '(did you mean "amd64"?)' in unsupported(Platform("linux", "x86_64"))
    assert '(did you mean "arm/v7"?)' in unsupported(Platform("linux", "armhf"))
    assert '(did you mean "linux"?)' in unsupported(Platform("Linux", "amd64"))


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (Platform("", "amd64"), "os is empty"),
        (Platform("linux", ""), "architecture is empty"),
        (Platform("windows", "s390x"), 'architecture "s390x" is not known for os "windows"'),
        (Platform("darwin", "riscv64"), "accepted: 386, amd64, arm, arm64"),
    ],
)
def test_invalid_pairs(platform: Platform, expected: str):
    assert expected in unsupported(platform)


def test_attestation_platform_is_not_valid_but_is_recognised():
    attestation = Platform("unknown", "unknown")
    assert is_attestation_platform(attestation)
    assert is_attestation_platform(Platform.from_json({"architecture": "unknown", "os": "unknown"}))
    assert 'os "unknown" is not known' in unsupported(attestation)
    assert not is_attestation_platform(Platform("linux", "unknown"))
    assert not is_attestation_platform(Platform("linux", "amd64"))
