"""Line and branch coverage, printed at the end of a `pytest --cov` run (scripts/test.sh),
just before pytest's closing line: the totals, and each module below the goals.

pytest-cov prints one combined percentage per module; the goals (issue 14) are separate:
at least 90% of lines and 85% of branches. The data is pytest-cov's, already combined
with what the CLI subprocesses measured (coverage's `patch = subprocess`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

LINE_GOAL = 90.0
BRANCH_GOAL = 85.0


def _percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    plugin = config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    cov = getattr(controller, "cov", None)
    if cov is None:
        return  # not a --cov run
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        try:
            cov.json_report(outfile=str(out))
        except Exception as exc:  # noqa: BLE001 - a summary must never fail the run
            terminalreporter.write_line(f"coverage summary unavailable: {exc}")
            return
        report = json.loads(out.read_text())
    totals = report["totals"]
    lines = _percent(totals["covered_lines"], totals["num_statements"])
    branches = _percent(totals["covered_branches"], totals["num_branches"])
    terminalreporter.write_sep("-", "line and branch coverage")
    terminalreporter.write_line(
        f"lines {lines:.1f}% ({totals['covered_lines']}/{totals['num_statements']}), "
        f"branches {branches:.1f}% ({totals['covered_branches']}/{totals['num_branches']}); "
        f"goals {LINE_GOAL:.0f}% / {BRANCH_GOAL:.0f}%"
    )
    below = []
    for name, data in sorted(report["files"].items()):
        summary = data["summary"]
        file_lines = _percent(summary["covered_lines"], summary["num_statements"])
        file_branches = _percent(summary["covered_branches"], summary["num_branches"])
        if file_lines < LINE_GOAL or file_branches < BRANCH_GOAL:
            below.append(f"  {name}: lines {file_lines:.1f}%, branches {file_branches:.1f}%")
    if below:
        terminalreporter.write_line("below a goal:")
        for line in below:
            terminalreporter.write_line(line)
