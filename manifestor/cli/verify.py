"""`manifestor verify REF`: check a published list; exit 1 on any failure."""

import json
from typing import TYPE_CHECKING, Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import InsecureOption, connect_early, global_options, platforms

if TYPE_CHECKING:
    from manifestor.ops.verify import VerifyReport


def verify(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(metavar="REF", help="The published list to check.")],
    expected: Annotated[
        str | None,
        typer.Option("--platforms", help="Platforms that must be present, comma-separated."),
    ] = None,
    allow_attestations: Annotated[
        bool,
        typer.Option("--allow-attestations", help="Accept unknown/unknown attestation entries."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    insecure: InsecureOption = False,
) -> None:
    """Check a published list: every child resolves, each image's config matches its
    platform, the expected platforms are present, no stray attestations. Exit 1 on any
    failure."""
    from manifestor.model.reference import parse_reference

    opts = global_options(ctx)
    ref = parse_reference(reference)
    wanted = platforms([expected]) if expected else ()
    # The command line is valid: connect to the registry while the workflow loads.
    connect_early(reference)
    from manifestor.ops.verify import verify_list

    with opts.client(insecure) as client:
        report = verify_list(client, ref, expected=wanted, allow_attestations=allow_attestations)
    if as_json:
        output.result(json.dumps(report.to_json(), indent=2))
    else:
        output.result(_report_text(report))
    if not report.ok:
        raise typer.Exit(1)


def _report_text(report: "VerifyReport") -> str:
    lines = [f"{report.ref}  {report.digest}  {report.media_type}"]
    for child in report.children:
        claimed = "attestation" if child.attestation else str(child.claimed or "-")
        config = f"config {child.actual}" if child.actual else ""
        mark = "ok  " if child.ok else "FAIL"
        lines.append(f"  {mark} {claimed:<22} {child.digest}  {config}".rstrip())
        lines.extend(f"       {problem}" for problem in child.problems)
    lines.extend(f"  FAIL {problem}" for problem in report.problems)
    lines.append("verified: ok" if report.ok else "verified: FAILED")
    return "\n".join(lines)
