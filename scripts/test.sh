#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs what it needs (scripts/setup.sh),
# lints and type-checks, then runs pytest against real docker-registry processes it starts on loopback.
# Extra arguments go to pytest (e.g. scripts/test.sh -k push -x).
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFESTOR_EXTRAS="[test]" source scripts/setup.sh
.venv/bin/ruff check manifestor tests benchmarks fixtures
.venv/bin/mypy   # strict on manifestor/model (pyproject.toml [tool.mypy])
exec .venv/bin/python -m pytest "$@"
