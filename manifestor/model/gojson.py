"""JSON written the way Go's encoding/json writes it (docker is a Go program): `<`, `>`,
`&`, U+2028 and U+2029 escaped, UTF-8 otherwise, Go's separators. Lists and store
entries written this way are byte-identical to docker's."""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
# Go escapes these for safe embedding in HTML; in JSON they occur only inside strings.
_ESCAPE = re.compile("[<>&\u2028\u2029]")
_STRING_OR_SPACE = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+')


def go_escape(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group()], text)


def go_json(value: Any, indent: str | None = None) -> str:
    """`json.Marshal` (indent None) or `json.MarshalIndent(value, "", indent)`."""
    if indent is None:
        return go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return go_escape(json.dumps(value, ensure_ascii=False, indent=indent))


def go_compact(text: str) -> str:
    """`json.Compact`: the same document, key order kept, whitespace outside strings gone."""
    return go_escape(_STRING_OR_SPACE.sub(lambda m: m.group(1) or "", text))
