"""`manifestor annotate LIST IMAGE`: edit the platform or annotations of one entry."""

from typing import Annotated

import typer

from manifestor.cli.options import global_options, key_values


def annotate(
    ctx: typer.Context,
    manifest_list: Annotated[str, typer.Argument(metavar="LIST")],
    image: Annotated[
        str, typer.Argument(metavar="IMAGE", help="The entry to edit, as given to create.")
    ],
    os: Annotated[str, typer.Option("--os", help="Set the operating system.")] = "",
    arch: Annotated[
        str,
        typer.Option(
            "--arch", help="Set the architecture (x86_64, aarch64, armv7l ... are normalised)."
        ),
    ] = "",
    variant: Annotated[str, typer.Option("--variant", help="Set the architecture variant.")] = "",
    os_version: Annotated[
        str, typer.Option("--os-version", help="Set the operating system version.")
    ] = "",
    os_features: Annotated[
        list[str],
        typer.Option(
            "--os-features", help="Add operating system features (comma-separated, repeatable)."
        ),
    ] = [],  # noqa: B006
    annotation: Annotated[
        list[str],
        typer.Option(
            "--annotation", help="Set an OCI annotation on the entry, KEY=VALUE (repeatable)."
        ),
    ] = [],  # noqa: B006
    unset: Annotated[
        list[str],
        typer.Option(
            "--unset",
            help="Clear a field: variant, os.version, os.features or annotations (repeatable).",
        ),
    ] = [],  # noqa: B006
) -> None:
    """Edit the platform or annotations of one entry of a local list. Empty values are ignored."""
    from manifestor.model.reference import parse_reference
    from manifestor.ops.lists import Annotation, annotate_entry

    change = Annotation(
        os=os.strip(),
        arch=arch.strip(),
        variant=variant.strip(),
        os_version=os_version.strip(),
        os_features=tuple(f.strip() for v in os_features for f in v.split(",") if f.strip()),
        annotations=key_values(annotation),
        unset=frozenset(u.strip() for u in unset if u.strip()),
    )
    store = global_options(ctx).store()
    annotate_entry(store, parse_reference(manifest_list), parse_reference(image), change)
