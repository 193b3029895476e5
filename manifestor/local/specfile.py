"""Read a release spec from disk; the parsing itself is pure (model/spec.py)."""

from __future__ import annotations

from pathlib import Path

from manifestor.errors import SpecError
from manifestor.model.spec import Release, parse_spec


def load_spec(path: str | Path) -> list[Release]:
    """Every release (YAML document) in a spec file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{file}: cannot read spec ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SpecError(f"{file}: the spec is not UTF-8 text") from None
    return parse_spec(text, str(file))
