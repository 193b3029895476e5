"""`manifestor inspect [LIST] REF`: a local list, one of its entries, or a manifest or
list in a registry, in docker's shapes (ops/inspect.py decides what is fetched)."""

from __future__ import annotations

from typing import Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import FormatOption, InsecureOption, global_options, list_format
from manifestor.errors import UsageError


def inspect(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="[LIST] REF",
            help="A local list or a remote image/list; with two names, one entry of a local list.",
        ),
    ],
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show docker's verbose form: Ref, Descriptor, Raw and the manifest.",
        ),
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print the registry's exact bytes.")] = False,
    digest: Annotated[bool, typer.Option("--digest", help="Print only the digest.")] = False,
    insecure: InsecureOption = False,
    media_format: FormatOption = "auto",
) -> None:
    """Show a local list, or a manifest or list in a registry (docker's JSON shape)."""
    from manifestor.model.reference import parse_reference
    from manifestor.ops.inspect import (
        View,
        inspect_local_entry,
        inspect_local_list,
        inspect_remote,
    )

    opts = global_options(ctx)
    if len(names) > 2:
        raise UsageError("inspect takes at most two names: [LIST] REF")
    # Checked up front: it only applies to local lists, but a bad value is still a mistake.
    chosen_format = list_format(media_format)
    store = opts.store()
    if len(names) == 2:
        list_ref, image = parse_reference(names[0]), parse_reference(names[1])
        view: View = "raw" if raw else "digest" if digest else "verbose" if verbose else "json"
        output.result_bytes(inspect_local_entry(store, list_ref, image, view))
        return
    ref = parse_reference(names[0])
    view = "digest" if digest else "raw" if raw else "verbose" if verbose else "json"
    if store.exists(ref):
        output.result_bytes(inspect_local_list(store, ref, chosen_format, view))
        return
    with opts.client(insecure) as client:
        output.result_bytes(inspect_remote(client, ref, view))
