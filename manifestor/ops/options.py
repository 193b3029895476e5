"""How a list is published: its type, index annotations and extra tags, and who hears of
the push. The caller (the CLI, a release, a library user) builds it once; each step
below reads the fields it needs instead of taking them one by one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from manifestor.model.entries import ListFormat
from manifestor.model.reference import Reference
from manifestor.ops.events import Notify, Progress


@dataclass(frozen=True)
class PublishOptions:
    list_format: ListFormat = "auto"
    # Index annotations; an upsert adds them to those the tag's list already has.
    annotations: Mapping[str, str] = field(default_factory=dict)
    # More tags for the same list bytes, written after the target.
    extra_tags: tuple[Reference, ...] = ()
    # Hears of each child brought in (docker prints these on stdout).
    notify: Notify | None = None
    # Hears of diagnostics: a list-type fallback, a wait for a registry to catch up.
    warn: Notify | None = None
    # Byte counts of blob copies.
    progress: Progress | None = None
