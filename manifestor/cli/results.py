"""How published lists are reported, for `push` (and any later command that publishes,
such as `build`): the digest lines on stdout, or with --json one JSON object per list,
and the --digest-file, checked before anything is written."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from manifestor.cli import output
from manifestor.errors import ManifestorError

if TYPE_CHECKING:
    from manifestor.ops.publish import PushResult


def check_digest_file(digest_file: Path | None) -> None:
    """Refuse a --digest-file that cannot be written before anything is published."""
    if digest_file is None:
        return
    folder = digest_file.parent
    if not folder.is_dir():
        raise ManifestorError(
            f"cannot write --digest-file {digest_file}: the folder {folder} does not exist"
        )
    if digest_file.is_dir():
        raise ManifestorError(f"cannot write --digest-file {digest_file}: it is a folder")


def report(
    results: Sequence[PushResult],
    *,
    as_json: bool,
    digest_file: Path | None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The results on stdout: the digest (`DIGEST TARGET` per list when there are
    several), or one JSON object per list (with `extra` fields: what `build` adds); the
    digest lines also go to the digest file."""
    digests = "".join(
        f"{r.digest}\n" if len(results) == 1 else f"{r.digest} {r.target}\n" for r in results
    )
    if as_json:
        output.result(
            "".join(json.dumps({**result_json(r), **(extra or {})}) + "\n" for r in results)
        )
    else:
        output.result(digests)
    if digest_file is not None:
        try:
            digest_file.write_text(digests)
        except OSError as exc:
            raise ManifestorError(
                f"cannot write --digest-file {digest_file}: {exc.strerror}"
            ) from None


def result_json(result: PushResult) -> dict[str, Any]:
    """One published list: where, its digest, every tag, its entries, and whether it was
    written (`pushed`) or already there (`unchanged`)."""
    return {
        "target": str(result.target),
        "digest": result.digest,
        "mediaType": result.media_type,
        "tags": [str(tag) for tag in result.tags],
        "status": "unchanged" if result.unchanged else "pushed",
        "entries": [entry.to_json() for entry in result.entries],
        "copied": [str(child.target) for child in result.copied_children],
    }
