"""What several commands share: the global options (from the app callback), option types
used by more than one command, and the small parsers of option values. Cheap to import:
the store and the client are imported when a command asks for them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from manifestor.errors import UsageError

if TYPE_CHECKING:
    from manifestor.local.store import ManifestStore
    from manifestor.model.entries import ListFormat
    from manifestor.model.platform import Platform
    from manifestor.remote.client import RegistryClient
    from manifestor.remote.deadline import Deadline

InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="Skip TLS verification and allow plain HTTP for the registry."),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="List media type: docker, oci or auto (Docker list unless "
        "a child is OCI or annotations are set).",
    ),
]

# Publishing options shared by the one-shot `push` and `build`.
TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", help="Also push the list under this tag (repeatable)."),
]
AnnotationOption = Annotated[
    list[str] | None,
    typer.Option(
        "--annotation", help="Index annotation KEY=VALUE (repeatable; makes an OCI index)."
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the list and the planned requests; write nothing."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the digest.")]
DigestFileOption = Annotated[
    Path | None, typer.Option("--digest-file", help="Also write the digest to this file.")
]
UpsertOption = Annotated[
    bool,
    typer.Option(
        "--upsert",
        help="Keep the entries already on the target tag and replace only those whose "
        "platform a source provides (safe against concurrent per-arch jobs).",
    ),
]


@dataclass
class GlobalOptions:
    config_dir: Path | None = None
    certs_dir: Path | None = None
    debug: bool = False
    deadline: Deadline | None = None  # --timeout: the whole run's time limit

    def store(self) -> ManifestStore:
        from manifestor.local.store import ManifestStore

        return ManifestStore(self.config_dir)

    def client(
        self,
        insecure: bool,
        username: str | None = None,
        password: str | None = None,
        registry: str | None = None,
    ) -> RegistryClient:
        """A client with the credentials the keychain policy chooses (local/keychain.py)."""
        from manifestor.local.cache import ContentCache
        from manifestor.local.keychain import keychain_for
        from manifestor.remote.client import RegistryClient

        keychain = keychain_for(self.config_dir, username, password, registry)
        return RegistryClient(
            keychain=keychain,
            insecure=insecure,
            certs_dir=self.certs_dir,
            cache=ContentCache.from_environment(),
            deadline=self.deadline,
        )


def connect_early(*references: str | None) -> None:
    """Start connecting to the registries these references name while the command still
    imports what it needs (remote/early.py). A text that is no reference is skipped here:
    the command rejects it in its own words."""
    from manifestor.errors import ManifestorError
    from manifestor.model.reference import api_host, parse_reference
    from manifestor.remote.early import connect_early as start

    hosts = []
    for text in references:
        if not text:
            continue
        try:
            hosts.append(api_host(parse_reference(text.partition("=")[0]).domain))
        except ManifestorError:  # a path, an archive: no registry to connect to
            continue
    start(hosts)


def global_options(ctx: typer.Context) -> GlobalOptions:
    return ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()


def list_format(value: str, option: str = "--format") -> ListFormat:
    if value not in ("docker", "oci", "auto"):
        raise UsageError(f"{option} must be docker, oci or auto, not {value!r}")
    return cast("ListFormat", value)


def platforms(values: list[str]) -> tuple[Platform, ...]:
    """Platforms from repeatable, comma-separated option values."""
    from manifestor.model.platform import parse_platform

    return tuple(parse_platform(p) for v in values for p in v.split(",") if p.strip())


def key_values(values: list[str]) -> dict[str, str]:
    """`--annotation KEY=VALUE` values."""
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--annotation wants KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out
