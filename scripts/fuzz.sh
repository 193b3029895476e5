#!/usr/bin/env bash
# The parser property tests with many more inputs than the default test run: FUZZ_EXAMPLES
# per parser (default 6000, over 100,000 in all), with hypothesis's statistics at the end.
# Extra arguments go to pytest (e.g. scripts/fuzz.sh -k manifest).
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFESTOR_EXTRAS="[test]" source scripts/setup.sh
export FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-6000}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz_parsers.py \
  --hypothesis-show-statistics "$@"
