"""The mutation score from mutmut's results in mutants/ (after scripts/mutation.sh), per
module and in total, over the scope of issue 14 (for the transport, its retry policy only).

    .venv/bin/python scripts/mutation_report.py            # the table
    .venv/bin/python scripts/mutation_report.py --survivors  # and each survivor's name
    .venv/bin/python scripts/mutation_report.py --names [--sample N] [--seed S]

`--names` prints the mutants in scope (or a random sample of N of them, for a run that
must fit in less time: its score estimates the whole one's); scripts/mutation.sh runs
those and records them in mutants/sample.txt, which the table then reports on alone.

Score = killed (including timeouts: the test run did not pass) / checked. Mutants still
unchecked are counted separately, so a partial run says how partial it is. A mutant left
alive on purpose (an equivalent mutant) is listed in EQUIVALENT with the reason, and
counted as such, not as killed."""

from __future__ import annotations

import fnmatch
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCOPE = (
    "manifestor.model.platform.*",
    "manifestor.model.reference.*",
    "manifestor.model.entries.*",
    "manifestor.ops.publish.*",
    "manifestor.ops.release.*",
    "manifestor.ops.upsert.*",
    "manifestor.ops.verify.*",
    "manifestor.remote.auth.*",
    "manifestor.remote.retry.x_parse_retry_after__*",
    "manifestor.remote.retry.x_is_retryable__*",
    "manifestor.remote.retry.x__wait__*",
    "manifestor.remote.transport.xǁTransportǁrequest__*",
    "manifestor.remote.retry.xǁRetryableStatusǁ*",
    "manifestor.local.store.*",
)
KILLED = {1, 3, 36, -24, 24, 152, 255, 37}
SURVIVED = {0}
NO_TESTS = {5, 33}

# Mutants that cannot be killed because the program behaves the same either way
# (name glob → why). Keep this short and specific: a survivor is a missing test until
# someone has shown it is not.
_T = "manifestor.remote.transport."
_R = "manifestor.remote.retry."
EQUIVALENT: dict[str, str] = {
    "manifestor.local.store.x__read_entry__mutmut_4": 'decode("UTF-8"): codec names ignore case',
    "manifestor.local.store.x__embedded_manifest__mutmut_4": 'encode("UTF-8"): the same',
    "manifestor.local.store.x__write_new_file__mutmut_7": "os.open's mode dropped: fchmod sets "
    "0644 on the next line, whatever the umask",
    "manifestor.local.store.xǁManifestStoreǁget__mutmut_34": "names[0] or str(list_ref): equal, "
    "_check_owner has refused any other list name",
    "manifestor.model.entries.x_build_list__mutmut_17": 'the "list" label only names a parse '
    "error, and build_list parses its own output",
    "manifestor.model.entries.x_build_list__mutmut_20": "the same label, defaulted",
    "manifestor.model.platform.x_validate_platform__mutmut_50": "the hint's `given` only hides a "
    "hint equal to it; a known spelling never equals the unknown architecture given",
    "manifestor.remote.auth.x_token_expiry__mutmut_7": "no expires_in as 0 or 1: both are raised "
    "to MIN_TOKEN_LIFETIME",
    "manifestor.remote.auth.x_token_expiry__mutmut_9": "an unreadable expires_in as 0 or 1: both "
    "are raised to MIN_TOKEN_LIFETIME",
    "manifestor.remote.auth.xǁAuthenticatorǁ_post_for_token__mutmut_36": "header names ignore case",
    "manifestor.remote.auth.xǁAuthenticatorǁ_cache_key__mutmut_10": "realm `or` fallback: the key "
    "is only used on the Bearer path, where the realm is always set",
    "manifestor.remote.auth.xǁAuthenticatorǁreauthorize__mutmut_18": "an absent scope read as "
    '"XXXX": not a scope, skipped like none',
    "manifestor.remote.auth.xǁAuthenticatorǁ_get_token__mutmut_55": '"get": requests upper-cases '
    "the method",
    "manifestor.ops.verify.x_verify_list__mutmut_99": "an assert for the type checker; the images "
    "compared all have a claimed platform",
    "manifestor.ops.upsert.x_current_entries__mutmut_*": "current_entries is dead code (issue 8 "
    "removes it)",
    "manifestor.ops.publish.x__put_list__mutmut_34": "extra destinations are tags, for which "
    "_list_destination does not look at the document",
    "manifestor.ops.publish.x__as_chunks__mutmut_16": "the read() path serves file-like bodies, "
    "and no BodySource in the product opens one (they give bytes or chunk iterators)",
    _R + "x__wait__mutmut_3": "tenacity sets the outcome before it asks for the wait",
    _T + "xǁTransportǁrequest__mutmut_50": "stream=None is falsy, as False",
}


def module_of(key: str) -> str:
    return key.split(".x", 1)[0]


SAMPLE_FILE = ROOT / "mutants" / "sample.txt"


def scope_verdicts() -> dict[str, int | None]:
    verdicts: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").glob("manifestor/**/*.meta")):
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(key, pattern) for pattern in SCOPE):
                verdicts[key] = code
    return verdicts


def _option(argv: list[str], name: str, default: int) -> int:
    return int(argv[argv.index(name) + 1]) if name in argv else default


def main(argv: list[str]) -> int:
    verdicts = scope_verdicts()
    if not verdicts:
        print("no mutmut results in mutants/: run scripts/mutation.sh first")
        return 1
    if "--names" in argv:
        names = sorted(verdicts)
        size = _option(argv, "--sample", 0)
        if size:
            names = sorted(random.Random(_option(argv, "--seed", 1)).sample(names, size))
        print("\n".join(names))
        return 0
    if SAMPLE_FILE.exists():
        sample = set(SAMPLE_FILE.read_text().split())
        verdicts = {k: v for k, v in verdicts.items() if k in sample}
        print(f"a sample of {len(verdicts)} mutants (mutants/sample.txt)")
    rows: dict[str, Counter] = {}
    survivors = []
    for key, code in sorted(verdicts.items()):
        row = rows.setdefault(module_of(key), Counter())
        equivalent = next(
            (why for glob, why in EQUIVALENT.items() if fnmatch.fnmatch(key, glob)), None
        )
        if code is None:
            row["unchecked"] += 1
        elif code in KILLED:
            row["killed"] += 1
        elif equivalent is not None and code in SURVIVED | NO_TESTS:
            row["equivalent"] += 1
        elif code in SURVIVED:
            row["survived"] += 1
            survivors.append(key)
        elif code in NO_TESTS:
            row["no tests"] += 1
            survivors.append(key)
        else:
            row["other"] += 1
            survivors.append(key)
    total = Counter()
    print(
        f"{'module':34} {'killed':>7} {'surv.':>6} {'no test':>7} {'equiv.':>6} "
        f"{'unchk.':>6} {'score':>7}"
    )
    for module, row in sorted(rows.items()):
        total.update(row)
        print(_line(module, row))
    print(_line("TOTAL", total))
    if "--survivors" in argv:
        print()
        print("\n".join(survivors))
    return 0


def _line(name: str, row: Counter) -> str:
    checked = row["killed"] + row["survived"] + row["no tests"] + row["other"]
    score = f"{100.0 * row['killed'] / checked:.1f}%" if checked else "-"
    return (
        f"{name:34} {row['killed']:7} {row['survived']:6} {row['no tests']:7} "
        f"{row['equivalent']:6} {row['unchecked']:6} {score:>7}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
