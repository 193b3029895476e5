"""External tools some tests need (the docker CLI, skopeo). A missing tool fails the test with
a clear message instead of skipping it: a skipped check is a check that silently did not
run. scripts/setup.sh (run by scripts/test.sh) installs them."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str, why: str) -> str:
    """The path of `name` on PATH, or fail the calling test saying what is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH, and {why}; scripts/setup.sh installs it "
            "(scripts/test.sh runs it)",
            pytrace=False,
        )
    return path
