"""What to release, from arguments, name templates or YAML specs (no I/O beyond reading
the spec file).

Specs use manifest-tool's format — `image`, `tags`, `manifests[].image`,
`manifests[].platform` — with several YAML documents for several releases, plus
`annotations` on the index and on entries. Errors name the file, line and field.
Templates replace OS, ARCH and VARIANT as manifest-tool's --template does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from manifestor.errors import UsageError
from manifestor.model.platform import Platform, parse_platform, validate_platform
from manifestor.model.reference import Reference, parse_reference

LOCAL_PREFIXES = ("oci:", "oci-archive:", "docker-archive:")
# A spec names a few dozen images; PyYAML parses about 0.5 MB/s, so 1 MiB is two seconds
# at most. Aliases are refused beyond a handful: each one can multiply the work.
MAX_SPEC_BYTES = 1024 * 1024
MAX_SPEC_ALIASES = 100


@dataclass(frozen=True)
class SourceSpec:
    """One source as the user wrote it, with the platform they stated for it (if any)."""

    text: str
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""

    @property
    def local_path(self) -> str | None:
        """The path of an on-disk source (`oci:DIR`, `oci-archive:FILE`,
        `docker-archive:FILE`, or a path starting with `/`, `./` or `../`)."""
        for prefix in LOCAL_PREFIXES:
            if self.text.startswith(prefix):
                return self.text[len(prefix) :]
        if self.text.startswith(("/", "./", "../")):
            return self.text
        return None

    def reference(self) -> Reference:
        return parse_reference(self.text)


@dataclass(frozen=True)
class Release:
    """One list to publish: where, under which tags, from which sources."""

    target: Reference
    sources: tuple[SourceSpec, ...]
    tags: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""


def parse_source_argument(text: str) -> SourceSpec:
    """`SOURCE` or `SOURCE=os/arch[/variant]` (the platform the image must be)."""
    head, sep, tail = text.rpartition("=")
    if sep and "/" in tail and head:
        return SourceSpec(head, known_platform(tail))
    return SourceSpec(text)


def known_platform(text: str) -> Platform:
    """A platform the user states: parsed, and its os/arch pair checked against the
    known table as `annotate` does, so a typo (`linux/amr64`) is an error, not a source
    name that --ignore-missing would quietly skip."""
    platform = parse_platform(text)
    validate_platform(platform)
    return platform


def expand_template(template: str, platforms: Sequence[Platform]) -> list[SourceSpec]:
    """manifest-tool's placeholders: the first OS, ARCH and VARIANT in the template
    become each platform's values (VARIANT becomes "" when there is none)."""
    if not any(word in template for word in ("OS", "ARCH", "VARIANT")):
        raise UsageError(f"template {template!r} has none of the placeholders OS, ARCH, VARIANT")
    sources = []
    for platform in platforms:
        validate_platform(platform)
        text = template.replace("OS", platform.os, 1)
        text = text.replace("ARCH", platform.architecture, 1)
        text = text.replace("VARIANT", platform.variant or "", 1)
        sources.append(SourceSpec(text, platform, origin=f"template for {platform}"))
    return sources


def parse_spec(text: str, file: str) -> list[Release]:
    """Every release (YAML document) in a spec's text; `file` names it in errors. PyYAML
    is imported only when a spec is read (model/specyaml.py), not for every push."""
    from manifestor.model.specyaml import parse_yaml_spec

    return parse_yaml_spec(text, file)
