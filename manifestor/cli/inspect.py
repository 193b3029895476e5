"""`manifestor inspect [LIST] REF`: a local list, one of its entries, or a manifest or
list in a registry, in docker's shapes (ops/inspect.py decides what is fetched)."""

from typing import TYPE_CHECKING, Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import InsecureOption, global_options, list_format
from manifestor.errors import UsageError

if TYPE_CHECKING:
    from manifestor.ops.inspect import View


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
    digest: Annotated[
        bool,
        typer.Option(
            "--digest",
            help="Print only the digest. For a local list: the digest of the list as "
            "manifestor would push it (a note on stderr says so); --remote for the registry's.",
        ),
    ] = False,
    remote: Annotated[
        bool,
        typer.Option("--remote", help="Ask the registry even when a local list has this name."),
    ] = False,
    insecure: InsecureOption = False,
    media_type: Annotated[
        str | None,
        typer.Option(
            "--media-type",
            help="For a local list: show it as a docker list, an oci index, or auto (Docker "
            "list unless a child is OCI or annotations are set).",
        ),
    ] = None,
    old_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Old spelling of --media-type (a media type, not a Go template).",
        ),
    ] = None,
) -> None:
    """Show a local list, or a manifest or list in a registry (docker's JSON shape)."""
    from manifestor.model.reference import parse_reference
    from manifestor.ops.inspect import (
        inspect_local_entry,
        inspect_local_list,
        inspect_remote,
    )

    opts = global_options(ctx)
    if len(names) > 2:
        raise UsageError("inspect takes at most two names: [LIST] REF")
    if raw and digest:
        raise UsageError("--raw prints the bytes and --digest only their digest: choose one")
    if old_format is not None and media_type is not None:
        raise UsageError("--format is the old spelling of --media-type: give one of them")
    # Checked up front: it only applies to local lists, but a bad value is still a mistake.
    if old_format is not None:
        chosen_format = list_format(old_format, "--format")
        output.note("note: inspect --format is now --media-type (a media type: docker, oci, auto)")
    else:
        chosen_format = list_format(media_type or "auto", "--media-type")
    view: View = "digest" if digest else "raw" if raw else "verbose" if verbose else "json"
    if len(names) == 2:
        if remote:
            raise UsageError("--remote takes one name; [LIST] REF names an entry of a local list")
        list_ref, image = parse_reference(names[0]), parse_reference(names[1])
        store = opts.store()
        output.result_bytes(inspect_local_entry(store, list_ref, image, view))
        return
    ref = parse_reference(names[0])
    if not remote:
        store = opts.store()
        if store.exists(ref):
            shown = inspect_local_list(store, ref, chosen_format, view)
            if digest:
                output.note(
                    f"note: the digest of the local list {ref} as manifestor would push it "
                    f"({chosen_format}); add --remote for the registry's"
                )
            output.result_bytes(shown)
            return
    with opts.client(insecure) as client:
        output.result_bytes(inspect_remote(client, ref, view))
