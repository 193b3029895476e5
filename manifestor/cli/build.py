"""`manifestor build`: build every platform (natively or under QEMU) into OCI layouts and
publish them as one list, with the publishing options of the one-shot `push`."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import (
    AnnotationOption,
    DigestFileOption,
    DryRunOption,
    FormatOption,
    InsecureOption,
    QuietOption,
    TagOption,
    UpsertOption,
    global_options,
    key_values,
)
from manifestor.cli.options import list_format as parse_list_format
from manifestor.cli.options import (
    platforms as parse_platforms,
)
from manifestor.cli.results import check_digest_file, report
from manifestor.errors import UsageError

if TYPE_CHECKING:  # the command imports what it runs when it runs (start-up time)
    from manifestor.ops.build import BuildEvent, BuildResult, OnEvent
    from manifestor.ops.events import Progress

_BUILDERS = ("auto", "buildah", "podman", "docker")


def build(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="TARGET", help="The list to publish.")],
    context: Annotated[
        Path, typer.Argument(metavar="[CONTEXT]", help="Build context directory.")
    ] = Path("."),
    platforms: Annotated[
        str | None,
        typer.Option("--platforms", help="Platforms to build, comma-separated."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Containerfile (default: CONTEXT/Containerfile)."),
    ] = None,
    build_arg: Annotated[
        list[str] | None,
        typer.Option("--build-arg", help="Build argument KEY=VALUE (repeatable)."),
    ] = None,
    builder: Annotated[
        str,
        typer.Option(
            "--builder", help="auto (the first that can build here), buildah, podman or docker."
        ),
    ] = "auto",
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Platforms built at once (default: one per CPU)."),
    ] = None,
    timestamp: Annotated[
        int | None,
        typer.Option(
            "--timestamp",
            help="Seconds since the epoch for every timestamp in the images (default: "
            "$SOURCE_DATE_EPOCH); identical inputs then re-run as 'unchanged'.",
        ),
    ] = None,
    insecure: InsecureOption = False,
    list_format: FormatOption = "auto",
    tag: TagOption = None,
    annotation: AnnotationOption = None,
    upsert: UpsertOption = False,
    dry_run: DryRunOption = False,
    quiet: QuietOption = False,
    digest_file: DigestFileOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of the digest.")
    ] = False,
) -> None:
    """Build TARGET for every platform (natively or under QEMU) and publish one list.

    Every platform is checked first (see `doctor`); each is built into its own OCI layout
    with no per-arch tag; the layouts are pushed as one list with their stated platforms.
    One failed build publishes nothing and keeps its log. Prints the list digest last."""
    from manifestor.local.builders import store_from_environment
    from manifestor.model.reference import parse_reference
    from manifestor.model.render import list_view
    from manifestor.ops.build import BuildOptions, build_and_publish
    from manifestor.ops.events import unchanged_note
    from manifestor.ops.release import ReleaseOptions

    opts = global_options(ctx)
    check_digest_file(digest_file)
    if not platforms:
        raise UsageError("build needs --platforms, e.g. --platforms linux/amd64,linux/arm64")
    if builder not in _BUILDERS:
        raise UsageError(f"--builder must be one of {', '.join(_BUILDERS)}, not {builder!r}")
    fmt = parse_list_format(list_format)
    args = _build_args(build_arg or [])
    options = BuildOptions(
        parse_platforms([platforms]),
        context,
        file,
        args,
        builder,  # type: ignore[arg-type]
        jobs,
        timestamp,
        True if insecure else None,
        store_from_environment(),
    )
    ref = parse_reference(target)
    note = output.notes(quiet)
    with opts.client(insecure) as client, output.progress(output.wants_progress(quiet)) as bars:
        result = build_and_publish(
            client,
            ref,
            options,
            ReleaseOptions(fmt, upsert=upsert),
            tags=tag or [],
            annotations=key_values(annotation or []),
            dry_run=dry_run,
            on_event=_reporter(bars, quiet),
            notify=note,
            progress=bars,
        )
    if result.plan is not None:
        output.result(list_view(result.plan.document))
        for step in result.plan.steps:
            output.note(f"plan: {step}")
        return
    assert result.pushed is not None
    if result.pushed.unchanged:
        note(unchanged_note(result.pushed.target, result.pushed.digest))
    report([result.pushed], as_json=as_json, digest_file=digest_file, extra=_built(result))


def _build_args(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--build-arg wants KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def _reporter(bars: "Progress | None", quiet: bool) -> "OnEvent":
    """A line per platform as it starts and ends (CI logs), and on a terminal a live
    line per platform while it builds."""
    live: dict[str, object] = {}

    def on_event(event: "BuildEvent") -> None:
        label = str(event.platform)
        if event.state == "building":
            if bars is not None:
                live[label] = bars.start(f"building {label}", None)
            if not quiet:
                output.note(f"building {label} (log: {event.log})")
            return
        if bars is not None and label in live:
            bars.finish(live.pop(label))
        if quiet:
            return
        took = f" in {event.seconds:.1f}s" if event.seconds else ""
        output.note(f"{event.state} {label}{took}")

    return on_event


def _built(result: "BuildResult") -> dict[str, object]:
    """What --json adds to push's object: the builder, and how long each platform took."""
    return {
        "builder": result.builder,
        "platforms": [
            {"platform": str(i.platform), "seconds": round(i.seconds, 2)} for i in result.images
        ],
    }
