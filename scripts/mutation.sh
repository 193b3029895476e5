#!/usr/bin/env bash
# Mutation testing (mutmut) over the pure model and the workflows, with the fast tests only
# (`-m "not integration"`, see [tool.mutmut] in pyproject.toml). Too slow for CI: run it by
# hand, then read the score with scripts/mutation_report.py. Mutants live in mutants/.
#
#   scripts/mutation.sh                 # the whole scope below (about an hour on 2 cores)
#   scripts/mutation.sh 'manifestor.ops.upsert.*'   # just these mutants (mutmut globs)
#   MUTATION_SAMPLE=600 scripts/mutation.sh        # a random sample (seed MUTATION_SEED)
#
# MUTATION_CHILDREN sets the parallel workers (default 2); it runs under `nice`, since the
# machine is shared. Every mutant named is run again, even when a verdict is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFESTOR_EXTRAS="[test,mutation]" source scripts/setup.sh

# The scope (issue 14): platforms, references, list building, publish, release, upsert,
# verify, auth, the retry policy of the transport (not its TLS, redirects or tracing), the
# store.
SCOPE=(
  'manifestor.model.platform.*'
  'manifestor.model.reference.*'
  'manifestor.model.entries.*'
  'manifestor.ops.publish.*'
  'manifestor.ops.release.*'
  'manifestor.ops.upsert.*'
  'manifestor.ops.verify.*'
  'manifestor.remote.auth.*'
  'manifestor.remote.retry.x_parse_retry_after__*'
  'manifestor.remote.retry.x_is_retryable__*'
  'manifestor.remote.retry.x__wait__*'
  'manifestor.remote.transport.xǁTransportǁrequest__*'
  'manifestor.remote.retry.xǁRetryableStatusǁ*'
  'manifestor.local.store.*'
)
if [ $# -gt 0 ]; then
  SCOPE=("$@")  # e.g. a sample's survivors again: the report keeps to the sample
elif [ -n "${MUTATION_SAMPLE:-}" ]; then
  # mutmut makes the mutants and its test-coverage stats (with a one-mutant run; its
  # print-time-estimates does not set up the import path, so its stats would be empty);
  # then pick the sample.
  nice -n 10 .venv/bin/mutmut run --max-children 1 \
    'manifestor.remote.retry.x_parse_retry_after__mutmut_1' >/dev/null
  .venv/bin/python scripts/mutation_report.py --names --sample "$MUTATION_SAMPLE" \
    --seed "${MUTATION_SEED:-1}" > mutants/sample.txt.new
  mv mutants/sample.txt.new mutants/sample.txt
  mapfile -t SCOPE < mutants/sample.txt
else
  rm -f mutants/sample.txt
fi
nice -n 10 .venv/bin/mutmut run --max-children "${MUTATION_CHILDREN:-2}" "${SCOPE[@]}"
.venv/bin/python scripts/mutation_report.py
