#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs what it needs (scripts/setup.sh),
# lints and type-checks, then runs pytest against real docker-registry processes it starts on loopback.
# Extra arguments go to pytest (e.g. scripts/test.sh -k push -x).
# Coverage is measured (pytest-cov, CLI subprocesses included through coverage's
# `patch = subprocess`, see pyproject.toml) and line and branch totals are printed before
# pytest's closing line (tests/covsummary.py). MANIFESTOR_COVERAGE=0 turns it off.
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFESTOR_EXTRAS="[test]" source scripts/setup.sh
.venv/bin/ruff check manifestor tests benchmarks fixtures scripts
.venv/bin/mypy   # strict on manifestor/model (pyproject.toml [tool.mypy])
coverage=()
if [ "${MANIFESTOR_COVERAGE:-1}" != "0" ]; then
  rm -f .coverage .coverage.*
  coverage=(--cov --cov-report=)
fi
exec .venv/bin/python -m pytest "${coverage[@]}" "$@"
