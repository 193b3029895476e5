"""Issue 14's spot check, repeatable: put each small, plausible bug into the product by
hand (one at a time), run the fast tests named for it, and report whether they failed.

    .venv/bin/python scripts/spotcheck.py            # every bug
    .venv/bin/python scripts/spotcheck.py verify-os  # one, by name

Each bug is a literal (old → new) edit of one file; the file is restored afterwards,
whatever happens. A bug whose `old` text is no longer in the file is reported as STALE
(the code moved on: update the edit). Exit status 1 if any bug went uncaught."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUARDS = "tests/test_mutation_guards.py"


@dataclass(frozen=True)
class Bug:
    name: str
    file: str
    old: str
    new: str
    tests: str  # a pytest -k expression over GUARDS (and the fast suite, see `where`)
    where: tuple[str, ...] = (GUARDS,)


BUGS = [
    Bug(
        "verify-os",
        "manifestor/model/platform.py",
        "    return platforms_match(config, claimed)",
        "    return platforms_match(Platform(claimed.os, config.architecture, config.variant),"
        " claimed)",
        "verify",
    ),
    Bug(
        "verify-variant",
        "manifestor/model/platform.py",
        "    if config.variant is None:\n        config = Platform(config.os, config.architecture,"
        " claimed.variant)",
        "    config = Platform(config.os, config.architecture, claimed.variant)",
        "verify",
    ),
    Bug(
        "verify-size",
        "manifestor/ops/verify.py",
        "manifest.media_type != descriptor.media_type or manifest.size != descriptor.size",
        "manifest.media_type != descriptor.media_type",
        "verify",
    ),
    Bug(
        "publish-extra-tags-first",
        "manifestor/ops/publish.py",
        "    try:\n        client.put_manifest(destinations[0], document)",
        "    for destination in destinations[1:]:\n"
        "        client.put_manifest(_list_destination(destination, document), document)\n"
        "    try:\n        client.put_manifest(destinations[0], document)",
        "publish",
    ),
    Bug(
        "attestation-by-annotation-only",
        "manifestor/model/entries.py",
        'return annotations.get(ATTESTATION_TYPE_KEY) == "attestation-manifest" or (',
        'return annotations.get(ATTESTATION_TYPE_KEY) == "attestation-manifest" and (',
        "attestation or unknown",
    ),
    Bug(
        "auth-cache-ignores-credential",
        "manifestor/remote/auth.py",
        'who = (cred.username or "<token>") if cred else ""',
        'who = ""',
        "token",
    ),
    Bug(
        "reauth-keeps-rejected-token",
        "manifestor/remote/auth.py",
        '            self._cache.discard(self._cache_key(), failed[len("Bearer ") :])',
        "            pass",
        "token",
    ),
    Bug(
        "retry-after-date-uncapped",
        "manifestor/remote/transport.py",
        "                return min(after, self.retry.retry_after_cap)",
        "                return (\n                    min(after, self.retry.retry_after_cap)\n"
        '                    if exc.response.headers.get("Retry-After", "").strip().isdigit()\n'
        "                    else after\n                )",
        "retry_after",
    ),
    Bug(
        "store-update-in-place",
        "manifestor/local/store.py",
        "            _write_new_file(tmp_path, content)\n            os.replace(tmp_path, path)",
        "            path.write_bytes(content)",
        "store or updating",
    ),
    Bug(
        "release-unchanged-loose-variant",
        "manifestor/ops/release.py",
        "        and (stated.variant is None or recorded.variant == stated.variant)\n",
        "",
        "release",
    ),
    Bug(
        "upsert-no-settle-recheck",
        "manifestor/ops/upsert.py",
        "        if _still_holds(client, target, fresh):",
        "        if True:",
        "upsert",
    ),
    Bug(
        "upsert-no-retry-when-moved",
        "manifestor/ops/upsert.py",
        "            sleep(random.uniform(0, policy.jitter))\n            continue",
        "            raise",
        "upsert",
    ),
    Bug(
        "upsert-no-compare-before-write",
        "manifestor/ops/publish.py",
        "        _check_expected(destinations[0], client.head_manifest(destinations[0]),"
        " expect_current)",
        "        pass",
        "upsert",
    ),
]


def run(bug: Bug) -> str:
    path = ROOT / bug.file
    original = path.read_text()
    if bug.old not in original:
        return "STALE"
    try:
        path.write_text(original.replace(bug.old, bug.new, 1))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                "-k",
                bug.tests,
                *bug.where,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(original)
    if result.returncode == 1:
        failed = [
            line.split("::")[-1].split(" ")[0]
            for line in result.stdout.splitlines()
            if line.startswith("FAILED ")
        ]
        return f"caught by {', '.join(failed)}"
    if result.returncode == 0:
        return "MISSED"
    return f"ERROR (pytest exit {result.returncode})\n{result.stdout[-2000:]}"


def main(names: list[str]) -> int:
    chosen = [b for b in BUGS if not names or b.name in names]
    missed = 0
    for bug in chosen:
        outcome = run(bug)
        missed += not outcome.startswith("caught")
        print(f"{bug.name:36} {outcome}", flush=True)
    print(f"{len(chosen) - missed} of {len(chosen)} bugs caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
