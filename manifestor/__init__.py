"""manifestor: stitch per-architecture images into one multi-platform tag.

The public API. Names are loaded on first use, so `import manifestor` (and the CLI's
start-up) stays cheap::

    import manifestor

    with manifestor.RegistryClient() as client:
        release = manifestor.Release(
            target=manifestor.parse_reference("registry.example.com/org/app:1.4"),
            sources=(manifestor.parse_source_argument("registry.example.com/org/app:1.4-amd64"),),
        )
        result = manifestor.publish(client, release)
        print(result.digest, "unchanged" if result.unchanged else "pushed")

The layers below are importable too (`manifestor.model`, `.remote`, `.local`, `.ops`),
but only the names in `__all__` are the stable surface.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    # names and platforms
    "Reference": ("manifestor.model.reference", "Reference"),
    "parse_reference": ("manifestor.model.reference", "parse_reference"),
    "Platform": ("manifestor.model.platform", "Platform"),
    "parse_platform": ("manifestor.model.platform", "parse_platform"),
    # the registry and where credentials come from
    "RegistryClient": ("manifestor.remote.client", "RegistryClient"),
    "Keychain": ("manifestor.local.keychain", "Keychain"),
    "Credential": ("manifestor.local.keychain", "Credential"),
    # what to release
    "Release": ("manifestor.model.spec", "Release"),
    "SourceSpec": ("manifestor.model.spec", "SourceSpec"),
    "parse_source_argument": ("manifestor.model.spec", "parse_source_argument"),
    "load_spec": ("manifestor.local.specfile", "load_spec"),
    "ListEntry": ("manifestor.model.entries", "ListEntry"),
    # workflows
    "ReleaseOptions": ("manifestor.ops.release", "ReleaseOptions"),
    "plan": ("manifestor.ops.release", "plan_release"),
    "prepare": ("manifestor.ops.release", "prepare_release"),
    "publish_releases": ("manifestor.ops.release", "publish_releases"),
    "publish_prepared": ("manifestor.ops.release", "publish_prepared"),
    "publish": ("manifestor.ops.release", "publish_release"),
    "push_list": ("manifestor.ops.publish", "push_list"),
    "PushResult": ("manifestor.ops.publish", "PushResult"),
    "resolve_sources": ("manifestor.ops.assemble", "resolve_sources"),
    "upsert": ("manifestor.ops.upsert", "upsert_list"),
    "verify": ("manifestor.ops.verify", "verify_list"),
    "VerifyReport": ("manifestor.ops.verify", "VerifyReport"),
    "inspect": ("manifestor.ops.inspect", "remote_view"),
    "inspect_digest": ("manifestor.ops.inspect", "remote_digest"),
    # errors
    "ManifestorError": ("manifestor.errors", "ManifestorError"),
    "UsageError": ("manifestor.errors", "UsageError"),
    "RegistryError": ("manifestor.errors", "RegistryError"),
    "NotFoundError": ("manifestor.errors", "NotFoundError"),
    "UnauthorizedError": ("manifestor.errors", "UnauthorizedError"),
    "TransportError": ("manifestor.errors", "TransportError"),
    "PlatformMismatchError": ("manifestor.errors", "PlatformMismatchError"),
    "CancelledError": ("manifestor.errors", "CancelledError"),
}

__all__ = [
    "__version__",
    "Reference",
    "parse_reference",
    "Platform",
    "parse_platform",
    "RegistryClient",
    "Keychain",
    "Credential",
    "Release",
    "SourceSpec",
    "parse_source_argument",
    "load_spec",
    "ListEntry",
    "ReleaseOptions",
    "plan",
    "prepare",
    "publish_releases",
    "publish_prepared",
    "publish",
    "push_list",
    "PushResult",
    "resolve_sources",
    "upsert",
    "verify",
    "VerifyReport",
    "inspect",
    "inspect_digest",
    "ManifestorError",
    "UsageError",
    "RegistryError",
    "NotFoundError",
    "UnauthorizedError",
    "TransportError",
    "PlatformMismatchError",
    "CancelledError",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'manifestor' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and IDEs see
    from manifestor.errors import (
        CancelledError,
        ManifestorError,
        NotFoundError,
        PlatformMismatchError,
        RegistryError,
        TransportError,
        UnauthorizedError,
        UsageError,
    )
    from manifestor.local.keychain import Credential, Keychain
    from manifestor.local.specfile import load_spec
    from manifestor.model.entries import ListEntry
    from manifestor.model.platform import Platform, parse_platform
    from manifestor.model.reference import Reference, parse_reference
    from manifestor.model.spec import Release, SourceSpec, parse_source_argument
    from manifestor.ops.assemble import resolve_sources
    from manifestor.ops.inspect import remote_digest as inspect_digest
    from manifestor.ops.inspect import remote_view as inspect
    from manifestor.ops.publish import PushResult, push_list
    from manifestor.ops.release import ReleaseOptions, publish_prepared, publish_releases
    from manifestor.ops.release import plan_release as plan
    from manifestor.ops.release import prepare_release as prepare
    from manifestor.ops.release import publish_release as publish
    from manifestor.ops.upsert import upsert_list as upsert
    from manifestor.ops.verify import VerifyReport
    from manifestor.ops.verify import verify_list as verify
