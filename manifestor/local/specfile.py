"""Read a release spec from disk; the parsing itself is pure (model/spec.py)."""

from __future__ import annotations

from pathlib import Path

from manifestor.errors import SpecError
from manifestor.model.spec import MAX_SPEC_BYTES, Release, parse_spec


def load_spec(path: str | Path) -> list[Release]:
    """Every release (YAML document) in a spec file."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_SPEC_BYTES + 1)  # bounded: a spec is small
    except OSError as exc:
        raise SpecError(f"{file}: cannot read spec ({exc.strerror})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{file}: the spec is larger than {MAX_SPEC_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{file}: the spec is not UTF-8 text") from None
    return parse_spec(text, str(file))
