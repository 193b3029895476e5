"""YAML specs (manifest-tool's format) to releases, keeping file and line for errors.
Pure; imported only when a spec is read, so PyYAML is not loaded for other commands."""

from __future__ import annotations

import yaml

from manifestor.errors import InvalidPlatformError, InvalidReferenceError, SpecError
from manifestor.model.platform import Platform
from manifestor.model.reference import parse_reference
from manifestor.model.spec import (
    MAX_SPEC_ALIASES,
    MAX_SPEC_BYTES,
    Release,
    SourceSpec,
    known_platform,
)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and nesting while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_SPEC_ALIASES:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_SPEC_ALIASES} aliases", event.start_mark
                )
        self.depth += 1
        try:
            if self.depth > 50:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "nested more than 50 levels deep", event.start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self.depth -= 1


def parse_yaml_spec(text: str, file: str) -> list[Release]:
    """Every release (YAML document) in a spec's text; `file` names it in errors."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{file}: the spec is larger than {MAX_SPEC_BYTES // 1024} KiB")
    try:
        documents = [d for d in yaml.compose_all(text, Loader=_BoundedLoader) if d is not None]
    except RecursionError:
        raise SpecError(f"{file}: not valid YAML (nested too deeply)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise SpecError(f"{where}: not valid YAML ({problem})") from None
    if not documents:
        raise SpecError(f"{file}: the spec is empty")
    return [_release(file, document) for document in documents]


# -- YAML nodes -> values, keeping line numbers for errors --------------------------------


def _where(file: str, node: yaml.Node) -> str:
    return f"{file}:{node.start_mark.line + 1}"


def _mapping(file: str, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise SpecError(f"{_where(file, node)}: {what} must be a mapping")
    out: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise SpecError(f"{_where(file, key)}: {what} has a key that is not a string")
        out[key.value] = value
    return out


def _string(file: str, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
        raise SpecError(f"{_where(file, node)}: {what} must be a non-empty string")
    return str(node.value).strip()


def _strings(file: str, node: yaml.Node, what: str) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [_string(file, node, what)]
    if not isinstance(node, yaml.SequenceNode):
        raise SpecError(f"{_where(file, node)}: {what} must be a list of strings")
    return [_string(file, item, what) for item in node.value]


def _string_map(file: str, node: yaml.Node, what: str) -> dict[str, str]:
    return {k: _string(file, v, f"{what}.{k}") for k, v in _mapping(file, node, what).items()}


def _unknown_keys(file: str, fields: dict[str, yaml.Node], allowed: set[str], what: str) -> None:
    for key, value in fields.items():
        if key not in allowed:
            raise SpecError(
                f"{_where(file, value)}: unknown field {what}{key!r}; "
                f"expected one of {', '.join(sorted(allowed))}"
            )


def _release(file: str, document: yaml.Node) -> Release:
    fields = _mapping(file, document, "a release")
    _unknown_keys(file, fields, {"image", "tags", "manifests", "annotations"}, "")
    if "image" not in fields:
        raise SpecError(f"{_where(file, document)}: field 'image' is missing (the list to publish)")
    image_node = fields["image"]
    try:
        target = parse_reference(_string(file, image_node, "image"))
    except InvalidReferenceError as exc:
        raise SpecError(f"{_where(file, image_node)}: image: {exc}") from None
    tags = tuple(_strings(file, fields["tags"], "tags")) if "tags" in fields else ()
    for tag in tags:
        try:
            target.with_tag(tag)
        except InvalidReferenceError as exc:
            raise SpecError(f"{_where(file, fields['tags'])}: tags: {exc}") from None
    if "manifests" not in fields:
        raise SpecError(f"{_where(file, document)}: field 'manifests' is missing")
    manifests = fields["manifests"]
    if not isinstance(manifests, yaml.SequenceNode) or not manifests.value:
        raise SpecError(f"{_where(file, manifests)}: manifests must be a non-empty list")
    sources = tuple(_source(file, item, i) for i, item in enumerate(manifests.value))
    annotations = (
        _string_map(file, fields["annotations"], "annotations") if "annotations" in fields else {}
    )
    return Release(target, sources, tags, annotations, _where(file, document))


def _source(file: str, node: yaml.Node, index: int) -> SourceSpec:
    what = f"manifests[{index}]"
    fields = _mapping(file, node, what)
    _unknown_keys(file, fields, {"image", "platform", "annotations"}, f"{what}.")
    if "image" not in fields:
        raise SpecError(f"{_where(file, node)}: {what}.image is missing")
    text = _string(file, fields["image"], f"{what}.image")
    platform = (
        _platform(file, fields["platform"], f"{what}.platform") if "platform" in fields else None
    )
    annotations = (
        _string_map(file, fields["annotations"], f"{what}.annotations")
        if "annotations" in fields
        else {}
    )
    spec = SourceSpec(text, platform, annotations, _where(file, fields["image"]))
    if spec.local_path is None:
        try:
            spec.reference()
        except InvalidReferenceError as exc:
            raise SpecError(f"{_where(file, fields['image'])}: {what}.image: {exc}") from None
    return spec


_PLATFORM_KEYS = {
    "architecture",
    "os",
    "variant",
    "osversion",
    "os.version",
    "osfeatures",
    "os.features",
    "features",
}


def _platform(file: str, node: yaml.Node, what: str) -> Platform:
    if isinstance(node, yaml.ScalarNode):
        try:
            return known_platform(node.value)
        except InvalidPlatformError as exc:
            raise SpecError(f"{_where(file, node)}: {what}: {exc}") from None
    fields = _mapping(file, node, what)
    _unknown_keys(file, fields, _PLATFORM_KEYS, f"{what}.")
    for required in ("os", "architecture"):
        if required not in fields:
            raise SpecError(f"{_where(file, node)}: {what}.{required} is missing")
    os_name = _string(file, fields["os"], what + ".os")
    text = f"{os_name}/{_string(file, fields['architecture'], what + '.architecture')}"
    if "variant" in fields:
        text += "/" + _string(file, fields["variant"], what + ".variant")
    try:
        parsed = known_platform(text)
    except InvalidPlatformError as exc:
        raise SpecError(f"{_where(file, node)}: {what}: {exc}") from None
    version_node = fields.get("os.version") or fields.get("osversion")
    features_node = fields.get("os.features") or fields.get("osfeatures")
    return Platform(
        parsed.os,
        parsed.architecture,
        parsed.variant,
        _string(file, version_node, what + ".os.version") if version_node else None,
        tuple(_strings(file, features_node, what + ".os.features")) if features_node else (),
    )
