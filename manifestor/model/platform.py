"""Platforms (`os/arch[/variant]`): parse user input, normalise spellings the way containerd
does (`x86_64` → amd64, `aarch64` → arm64, `armhf` → arm/v7), match descriptors, and check
os/arch pairs against a known table broader than docker's. Pure: no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from manifestor.errors import InvalidPlatformError

PLATFORM_FORM = "os/arch[/variant]"

# Every os/arch pair `go tool dist list` has printed in recent Go releases (including
# since-retired ports such as windows/arm and openbsd/mips64), plus the pairs docker's
# `validOSArches` accepts that Go dropped (darwin/386, darwin/arm).
KNOWN_PLATFORMS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        os: frozenset(arches.split())
        for os, arches in {
            "aix": "ppc64",
            "android": "386 amd64 arm arm64",
            "darwin": "386 amd64 arm arm64",
            "dragonfly": "amd64",
            "freebsd": "386 amd64 arm arm64 riscv64",
            "illumos": "amd64",
            "ios": "amd64 arm64",
            "js": "wasm",
            "linux": "386 amd64 arm arm64 loong64 mips mips64 mips64le mipsle ppc64 ppc64le "
            "riscv64 s390x",
            "netbsd": "386 amd64 arm arm64",
            "openbsd": "386 amd64 arm arm64 mips64 ppc64 riscv64",
            "plan9": "386 amd64 arm",
            "solaris": "amd64",
            "wasip1": "wasm",
            "windows": "386 amd64 arm arm64",
        }.items()
    }
)

# Spellings from `uname -m`, Debian arch names and containerd's aliases. A value with a
# variant fixes it: "armhf" means ARMv7 whatever variant came with it, as in containerd.
_ARCH_ALIASES: Mapping[str, tuple[str, str | None]] = MappingProxyType(
    {
        "x86_64": ("amd64", None),
        "x86-64": ("amd64", None),
        "aarch64": ("arm64", None),
        "armhf": ("arm", "v7"),
        "armel": ("arm", "v6"),
        "armv7": ("arm", "v7"),
        "armv7l": ("arm", "v7"),
        "armv6": ("arm", "v6"),
        "armv6l": ("arm", "v6"),
        "armv5": ("arm", "v5"),
        "armv5l": ("arm", "v5"),
        "armv5tel": ("arm", "v5"),
        "i386": ("386", None),
        "i486": ("386", None),
        "i586": ("386", None),
        "i686": ("386", None),
        "loongarch64": ("loong64", None),
        "ppc64el": ("ppc64le", None),
        "mips64el": ("mips64le", None),
    }
)
# Variants of these are CPU levels, written "v7"; a bare "7" is accepted and prefixed.
_VERSIONED_VARIANT_ARCHES = frozenset({"amd64", "arm", "arm64"})
# The variant an unqualified arch means, so arm64 matches arm64/v8 and arm matches arm/v7.
_DEFAULT_VARIANTS: Mapping[str, str] = MappingProxyType({"amd64": "v1", "arm": "v7", "arm64": "v8"})

_OS_ALIASES: Mapping[str, str] = MappingProxyType({"macos": "darwin"})

# containerd's specifier alphabet: OS without dots, arch and variant with them.
_OS_COMPONENT = re.compile(r"[a-z0-9_-]+")
_ARCH_COMPONENT = re.compile(r"[a-z0-9_.-]+")

ATTESTATION_OS = "unknown"
ATTESTATION_ARCH = "unknown"


@dataclass(frozen=True)
class Platform:
    """The platform of one list entry, as in an OCI descriptor's `platform` object."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def to_json(self) -> dict[str, str | list[str]]:
        """The `platform` object in the key order docker and the OCI spec structs use."""
        body: dict[str, str | list[str]] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            body["os.version"] = self.os_version
        if self.os_features:
            body["os.features"] = list(self.os_features)
        if self.variant:
            body["variant"] = self.variant
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> Platform:
        """Read a `platform` object as stored, without normalising (its bytes are
        someone's digest); missing keys become empty. The deprecated `features` key is
        not kept."""
        features = body.get("os.features") or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise InvalidPlatformError(
                f"invalid platform {_compact(body)}: os.features must be a list of strings"
            )
        return cls(
            os=_string_field(body, "os"),
            architecture=_string_field(body, "architecture"),
            variant=_string_field(body, "variant") or None,
            os_version=_string_field(body, "os.version") or None,
            os_features=tuple(features),
        )


def parse_platform(text: str) -> Platform:
    """Parse `os/arch[/variant]` (trimmed, lowercased, normalised).

    A lone architecture such as `arm64` means `linux/arm64`: containerd accepts a lone
    arch too but fills in the host OS, which says nothing about the image. A lone OS
    (containerd would fill in the host arch) is refused. The variant is kept as given,
    only spelt canonically (`8` → `v8`), so `linux/arm64` and `linux/arm64/v8` stay
    distinct here and equal in `platforms_match`. Whether the os/arch pair is known is
    `validate_platform`'s job, so `unknown/unknown` parses.
    """
    spec = text.strip().lower()
    parts = spec.split("/")
    if spec == "":
        raise _malformed(text, "empty platform")
    if len(parts) > 3:
        raise _malformed(text, "too many components")
    if "" in parts:
        raise _malformed(text, "empty component")
    if bad := [p for p in parts[1:] if not _ARCH_COMPONENT.fullmatch(p)]:
        raise _malformed(text, f"invalid characters in {_quote(bad[0])}")
    if not _OS_COMPONENT.fullmatch(parts[0]):
        raise _malformed(text, f"invalid characters in {_quote(parts[0])}")

    if len(parts) == 1:
        if normalize_os(parts[0]) in KNOWN_PLATFORMS:
            raise _malformed(text, "missing architecture")
        architecture, variant = normalize_arch(parts[0])
        if architecture not in KNOWN_PLATFORMS["linux"]:
            raise _malformed(text, f"{_quote(parts[0])} is not a known architecture")
        return Platform(os="linux", architecture=architecture, variant=variant)

    architecture, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else None)
    return Platform(os=normalize_os(parts[0]), architecture=architecture, variant=variant)


def normalize_os(os: str) -> str:
    """Lowercase an OS name and map aliases (`macos` → darwin). Empty stays empty:
    unlike containerd, there is no host default to fall back on."""
    lowered = os.strip().lower()
    return _OS_ALIASES.get(lowered, lowered)


def normalize_arch(architecture: str, variant: str | None = None) -> tuple[str, str | None]:
    """Map an architecture alias to its Go name and spell the variant canonically.

    `x86_64` → amd64, `aarch64` → arm64, `armhf` → (arm, v7), `i686` → 386. The variant
    is otherwise kept as given, lowercased, with a bare CPU level prefixed (`7` → v7)
    for amd64, arm and arm64. Defaults are not filled in or dropped: `arm` stays arm.
    """
    arch = architecture.strip().lower()
    level = (variant or "").strip().lower() or None
    if arch in _ARCH_ALIASES:
        arch, fixed = _ARCH_ALIASES[arch]
        if fixed is not None:
            return arch, fixed
    if arch == "386":
        # 386 has no CPU levels; containerd drops whatever came with i386.
        return arch, None
    if level is not None and level.isdigit() and arch in _VERSIONED_VARIANT_ARCHES:
        level = f"v{level}"
    return arch, level


def platforms_match(a: Platform, b: Platform) -> bool:
    """Same os, arch and variant once normalised, where an unqualified amd64, arm or
    arm64 means its baseline level (v1, v7, v8). os.version and os.features are ignored."""
    return _match_key(a) == _match_key(b)


def validate_platform(platform: Platform) -> None:
    """Raise InvalidPlatformError unless the os/arch pair is in KNOWN_PLATFORMS."""
    os, architecture = platform.os, platform.architecture
    shown = _quote(f"{os}/{architecture}")
    arches = KNOWN_PLATFORMS.get(os)
    if arches is None:
        what = "os is empty" if os == "" else f"os {_quote(os)} is not known"
        accepted = ", ".join(sorted(KNOWN_PLATFORMS))
        canonical_os = normalize_os(os)
        hint = _hint(os, canonical_os if canonical_os in KNOWN_PLATFORMS else None)
        raise InvalidPlatformError(
            f"unsupported platform {shown}: {what}; accepted: {accepted}{hint}"
        )
    if architecture in arches:
        return
    what = (
        "architecture is empty"
        if architecture == ""
        else f"architecture {_quote(architecture)} is not known for os {_quote(os)}"
    )
    accepted = ", ".join(sorted(arches))
    canonical_arch, variant = normalize_arch(architecture)
    spelling = f"{canonical_arch}/{variant}" if variant else canonical_arch
    hint = _hint(architecture, spelling if canonical_arch in arches else None)
    raise InvalidPlatformError(f"unsupported platform {shown}: {what}; accepted: {accepted}{hint}")


def _hint(given: str, canonical: str | None) -> str:
    # Point at the canonical spelling when the value is a known alias (x86_64, Linux).
    return f" (did you mean {_quote(canonical)}?)" if canonical and canonical != given else ""


def is_attestation_platform(platform: Platform) -> bool:
    """True for `unknown/unknown`, the platform buildx gives attestation manifests."""
    return platform.os == ATTESTATION_OS and platform.architecture == ATTESTATION_ARCH


def _match_key(platform: Platform) -> tuple[str, str, str | None]:
    architecture, variant = normalize_arch(platform.architecture, platform.variant)
    return (
        normalize_os(platform.os),
        architecture,
        variant or _DEFAULT_VARIANTS.get(architecture),
    )


def _string_field(body: Mapping[str, object], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidPlatformError(f"invalid platform {_compact(body)}: {key} must be a string")
    return value


def _compact(body: Mapping[str, object]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str, ensure_ascii=False)


def _quote(text: str) -> str:
    # JSON quoting escapes newlines and control characters, so messages stay one line.
    return json.dumps(text, ensure_ascii=False)


def _malformed(text: str, detail: str) -> InvalidPlatformError:
    return InvalidPlatformError(
        f"invalid platform {_quote(text)}: {detail}; expected {PLATFORM_FORM}, e.g. linux/arm64/v8"
    )


def config_agrees(config: Platform, claimed: Platform) -> bool:
    """Does an image's config platform agree with the platform claimed for it?

    A config without a variant does not contradict a claimed one (arm64 images rarely
    record "v8"); a different os, architecture or variant does."""
    if config.variant is None:
        config = Platform(config.os, config.architecture, claimed.variant)
    return platforms_match(config, claimed)
