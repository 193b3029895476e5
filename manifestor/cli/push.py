"""`manifestor push`: a local list (`push LIST`), or a one-shot release from sources, a
template or a spec (`push TARGET SOURCE...`, `--template`, `--spec`). The digest is the
last line on stdout (`DIGEST TARGET` per release when there are several)."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import (
    FormatOption,
    InsecureOption,
    connect_early,
    global_options,
    key_values,
    list_format,
    platforms,
)
from manifestor.cli.results import check_digest_file, report
from manifestor.errors import UsageError

if TYPE_CHECKING:
    from manifestor.model.spec import Release
    from manifestor.ops.publish import PushResult
    from manifestor.ops.release import ReleasePlan


def push(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="TARGET",
            help="The list to publish: a local list (alone), or the target of a one-shot push.",
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SOURCE...]",
            help="One-shot push from these images (no local list): REF, REF=os/arch[/variant], "
            "oci:DIR, oci-archive:FILE, docker-archive:FILE.",
        ),
    ] = None,
    purge: Annotated[
        bool,
        typer.Option("--purge", "-p", help="Remove the local list after a fully successful push."),
    ] = False,
    insecure: InsecureOption = False,
    media_format: FormatOption = "auto",
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="Source name with OS, ARCH, VARIANT placeholders "
            "(with --platforms), e.g. 'org/app:1.4-ARCHVARIANT'.",
        ),
    ] = None,
    template_platforms: Annotated[
        str | None,
        typer.Option("--platforms", help="Platforms for --template, comma-separated."),
    ] = None,
    ignore_missing: Annotated[
        bool, typer.Option("--ignore-missing", help="Skip sources that do not exist.")
    ] = False,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="A manifest-tool style YAML spec (several documents allowed)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Also push the list under this tag (repeatable)."),
    ] = None,
    annotation: Annotated[
        list[str] | None,
        typer.Option(
            "--annotation", help="Index annotation KEY=VALUE (repeatable; makes an OCI index)."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the list and the planned requests; write nothing."),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Nothing on stderr but errors: stdout keeps the digest (or --json), and "
            "with --dry-run the list that would be pushed, without the plan.",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object per list instead of the digest: target, digest, "
            "mediaType, tags, status (pushed or unchanged), entries, copied.",
        ),
    ] = False,
    digest_file: Annotated[
        Path | None, typer.Option("--digest-file", help="Also write the digest to this file.")
    ] = None,
    attestations: Annotated[
        str,
        typer.Option("--attestations", help="Attestation manifests of source lists: drop or keep."),
    ] = "drop",
    platform: Annotated[
        list[str] | None,
        typer.Option("--platform", help="Take only these platforms from source lists and layouts."),
    ] = None,
    upsert: Annotated[
        bool,
        typer.Option(
            "--upsert",
            help="Keep the entries already on the target tag and replace only those whose "
            "platform a source provides (safe against concurrent per-arch jobs).",
        ),
    ] = False,
    allow_platform_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-platform-mismatch",
            help="Publish an entry whose platform contradicts its image's config "
            "(refused by default).",
        ),
    ] = False,
) -> None:
    """Push a local list, or assemble and push in one step from sources, a template or a spec.

    Prints the list digest on stdout (with several releases: `DIGEST TARGET` per release),
    and on stderr `Pushed ref ...` for each child brought in from elsewhere."""
    from manifestor.model.entries import SourceFilter
    from manifestor.model.reference import parse_reference
    from manifestor.model.spec import Release

    opts = global_options(ctx)
    fmt = list_format(media_format)
    if attestations not in ("drop", "keep"):
        raise UsageError(f"--attestations must be drop or keep, not {attestations!r}")
    selection = SourceFilter(platforms(platform or []), attestations == "keep")
    index_annotations = key_values(annotation or [])
    releases = _releases(
        target, sources or [], template, template_platforms, spec, tag or [], index_annotations
    )
    if releases is not None and purge:
        raise UsageError("--purge removes a local list; it does not apply to a one-shot push")
    if releases is None and (ignore_missing or platform or attestations != "drop" or upsert):
        raise UsageError(
            "--ignore-missing, --platform, --attestations and --upsert apply to a one-shot push"
        )
    if dry_run and as_json:
        raise UsageError("--json reports what was pushed; a --dry-run pushes nothing")
    check_digest_file(digest_file)
    # The command line is valid: connect to the registries while the workflow loads.
    connect_early(target, *(sources or []))
    from manifestor.ops.options import PublishOptions
    from manifestor.ops.release import ReleaseOptions, plan_release, publish_releases

    note = output.notes(quiet)
    if releases is not None:
        _hint_local_paths(releases, note)
    results: list[PushResult] = []
    with (
        opts.client(insecure) as client,
        output.progress(output.wants_progress(quiet)) as bars,
    ):
        if releases is None:
            from manifestor.ops.lists import plan_stored_push, push_stored_list  # the store

            assert target is not None
            local = Release(parse_reference(target), (), tuple(tag or ()), index_annotations)
            if dry_run:
                _show_plan(plan_stored_push(client, opts.store(), local, fmt), note)
            else:
                publish = PublishOptions(
                    fmt,
                    local.annotations,
                    tuple(local.target.with_tag(t) for t in local.tags),
                    notify=note,
                    warn=note,
                    progress=bars,
                )
                result = push_stored_list(
                    client,
                    opts.store(),
                    local.target,
                    publish,
                    purge=purge,
                    allow_platform_mismatch=allow_platform_mismatch,
                )
                results = [result]
        else:
            options = ReleaseOptions(
                fmt, selection, ignore_missing, upsert, allow_platform_mismatch
            )
            if dry_run:
                for release in releases:
                    _show_plan(plan_release(client, release, options, notify=note), note)
            else:
                results = publish_releases(client, releases, options, notify=note, progress=bars)
    if results:
        report(results, as_json=as_json, digest_file=digest_file)


def _show_plan(plan: "ReleasePlan", note: Callable[[str], None]) -> None:
    """A dry run: the list on stdout (its result), the planned requests as notes."""
    from manifestor.model.render import list_view

    output.result(list_view(plan.document))
    for step in plan.steps:
        note(f"plan: {step}")


def _hint_local_paths(releases: "list[Release]", note: Callable[[str], None]) -> None:
    """A source that names a file or folder here, written without `./` or `oci:`, is read
    as a registry reference: refuse it when it is not one, and say so when it is."""
    from manifestor.errors import InvalidReferenceError

    for release in releases:
        for source in release.sources:
            if source.local_path is not None or not os.path.exists(source.text):
                continue
            hint = f"for the local {source.text}, write ./{source.text} or oci:{source.text}"
            try:
                ref = source.reference()
            except InvalidReferenceError as exc:
                raise InvalidReferenceError(f"{exc}; {hint}") from None
            note(f"note: {source.text} is read as the registry image {ref}; {hint}")


def _releases(
    target: str | None,
    sources: list[str],
    template: str | None,
    template_platforms: str | None,
    spec: Path | None,
    tags: list[str],
    annotations: dict[str, str],
) -> "list[Release] | None":
    """The one-shot releases asked for, or None for a plain `push LIST`."""
    from manifestor.local.specfile import load_spec
    from manifestor.model.reference import parse_reference
    from manifestor.model.spec import Release, expand_template, parse_source_argument

    if spec is not None:
        if target or sources or template:
            raise UsageError("--spec names its own targets and sources; give no TARGET or SOURCE")
        releases = load_spec(spec)
        if tags or annotations:
            releases = [
                Release(
                    r.target,
                    r.sources,
                    r.tags + tuple(tags),
                    {**r.annotations, **annotations},
                    r.origin,
                )
                for r in releases
            ]
        return releases
    if target is None:
        raise UsageError("push needs a TARGET (a local list, or the list to publish), or --spec")
    if template is not None or template_platforms is not None:
        if template is None or template_platforms is None:
            raise UsageError("--template and --platforms go together")
        if sources:
            raise UsageError("give either SOURCE arguments or --template, not both")
        wanted = platforms([template_platforms])
        return [
            Release(
                parse_reference(target),
                tuple(expand_template(template, wanted)),
                tuple(tags),
                annotations,
            )
        ]
    if not sources:
        return None
    specs = tuple(parse_source_argument(s) for s in sources)
    return [Release(parse_reference(target), specs, tuple(tags), annotations)]
