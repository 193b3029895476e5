"""`manifestor ls`: the local lists, their entry counts, and whether each is readable."""

import typer

from manifestor.cli import output
from manifestor.cli.options import global_options


def ls(ctx: typer.Context) -> None:
    """List the local lists."""
    summaries = global_options(ctx).store().summaries()
    if not summaries:
        output.note("no local manifest lists")
        return
    width = max(len(s.name) for s in summaries)
    lines = [f"{'NAME':<{width}}  ENTRIES  STATUS"]
    for summary in summaries:
        status = f"corrupt: {summary.corrupt}" if summary.corrupt else "ok"
        lines.append(f"{summary.name:<{width}}  {summary.entries:<7}  {status}")
    output.result("\n".join(lines))
