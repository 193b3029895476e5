"""A content-addressed cache of manifests and image configs on this machine.

A manifest or config is named by the sha256 of its bytes, so a cached copy is as good as
one fetched: it is checked against its digest on every read, and a file that does not
match is ignored. What a cache can never answer is where a *tag* points; that still
takes a request (a HEAD). So a re-run that finds every tag where it left it needs no GET.

The CLI uses `~/.cache/manifestor` (`$XDG_CACHE_HOME/manifestor`); `MANIFESTOR_CACHE_DIR`
moves it, and `MANIFESTOR_CACHE_DIR=off` turns it off."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

# Only small documents are kept: manifests are capped at 4 MiB, configs at 8 MiB.
MAX_ENTRY_BYTES = 8 * 1024 * 1024


class ContentCache:
    """Bytes by sha256 digest, in `<dir>/sha256/<hex>`; every error means "not cached"."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ContentCache | None:
        env = os.environ if environ is None else environ
        chosen = env.get("MANIFESTOR_CACHE_DIR")
        if chosen is not None:
            return None if chosen in ("", "off") else cls(chosen)
        base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
        return cls(Path(base) / "manifestor")

    def _path(self, digest: str) -> Path | None:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64:
            return None
        if any(c not in "0123456789abcdef" for c in hexdigest):
            return None
        return self.directory / "sha256" / hexdigest

    def get(self, digest: str) -> bytes | None:
        path = self._path(digest)
        if path is None:
            return None
        try:
            with path.open("rb") as file:
                data = file.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return None  # truncated or tampered with: fetch it again
        return data

    def put(self, digest: str, data: bytes) -> None:
        path = self._path(digest)
        if path is None or len(data) > MAX_ENTRY_BYTES or path.exists():
            return
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(temp, path)
            except OSError:
                os.unlink(temp)
                raise
        except OSError:
            return  # a cache that cannot be written is only slower
