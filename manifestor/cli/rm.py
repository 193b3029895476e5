"""`manifestor rm LIST...`: delete local lists."""

from typing import Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import global_options


def rm(
    ctx: typer.Context,
    manifest_lists: Annotated[
        list[str], typer.Argument(metavar="LIST...", help="Local lists to delete.")
    ],
) -> None:
    """Delete local lists (even corrupt ones). The registry is not touched."""
    from manifestor.ops.lists import remove_lists

    failures = remove_lists(global_options(ctx).store(), manifest_lists)
    for message in failures:
        output.error(message)
    if failures:
        raise typer.Exit(1)
