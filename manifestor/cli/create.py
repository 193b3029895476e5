"""`manifestor create LIST SOURCE...`: a local list from per-arch images."""

from typing import Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import InsecureOption, connect_early, global_options, platforms


def create(
    ctx: typer.Context,
    manifest_list: Annotated[
        str, typer.Argument(metavar="LIST", help="Name of the list to create.")
    ],
    sources: Annotated[
        list[str], typer.Argument(metavar="SOURCE...", help="Per-arch images (or lists).")
    ],
    amend: Annotated[
        bool,
        typer.Option(
            "--amend", "-a", help="Amend an existing list; sources given again are re-fetched."
        ),
    ] = False,
    insecure: InsecureOption = False,
    platform: Annotated[
        list[str],
        typer.Option(
            "--platform",
            help="Take only these platforms from source lists "
            "(os/arch[/variant], repeatable or comma-separated).",
        ),
    ] = [],  # noqa: B006
    keep_attestations: Annotated[
        bool,
        typer.Option(
            "--keep-attestations",
            help="Keep attestation manifests of source lists (dropped by default).",
        ),
    ] = False,
) -> None:
    """Create a local manifest list from per-arch images (like `docker manifest create`)."""
    from manifestor.model.entries import SourceFilter
    from manifestor.model.reference import parse_reference

    opts = global_options(ctx)
    list_ref = parse_reference(manifest_list)
    refs = [parse_reference(s) for s in sources]
    selection = SourceFilter(platforms(platform), keep_attestations)
    # The command line is valid: connect to the registries while the workflow loads.
    connect_early(*sources)
    from manifestor.ops.lists import create_list

    with opts.client(insecure) as client:
        create_list(
            client,
            opts.store(),
            list_ref,
            refs,
            amend=amend,
            selection=selection,
            notify=output.note,
        )
    output.result(f"Created manifest list {list_ref}")
