"""The `manifestor` command line: parse arguments, call the library, print results.

Results go to stdout, diagnostics to stderr. A ManifestorError, like a command-line
mistake caught by the argument parser, becomes one line on stderr and its exit code
(1 operational, 2 usage); tracebacks only with --debug."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

try:  # typer vendors click since 0.2x; older releases raise the click package's errors
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_errors  # type: ignore[no-redef]

from manifestor import __version__
from manifestor.cli.progress import terminal_progress, wants_progress
from manifestor.errors import CredentialsError, ManifestorError, UsageError
from manifestor.local.dockerconfig import remove_credentials, store_credentials
from manifestor.local.keychain import Keychain
from manifestor.local.store import ManifestStore
from manifestor.model.entries import ListEntry, SourceFilter, check_entries, list_document
from manifestor.model.platform import parse_platform
from manifestor.model.reference import HUB_DOMAINS, parse_reference
from manifestor.model.render import list_view, manifest_view, verbose_view
from manifestor.model.spec import Release, expand_template, load_spec, parse_source_argument
from manifestor.ops.events import Progress
from manifestor.ops.inspect import remote_digest, remote_raw, remote_view
from manifestor.ops.lists import (
    Annotation,
    annotate_entry,
    create_list,
    find_entry,
    from_stored,
    load_entries,
    push_stored_list,
    remove_lists,
    stored_entries_to_push,
)
from manifestor.ops.publish import PushResult, plan_steps
from manifestor.ops.release import ReleaseOptions, plan_release, prepare_release, publish_prepared
from manifestor.ops.verify import VerifyReport, verify_list
from manifestor.remote.client import RegistryClient

# click >= 8.2 signals "no arguments: show the help" with this usage error.
_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(_click_errors, "NoArgsIsHelpError", ())

app = typer.Typer(
    name="manifestor",
    help="Stitch per-architecture images into one multi-platform tag (manifest list / OCI index).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="Skip TLS verification and allow plain HTTP for the registry."),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="List media type: docker, oci or auto (Docker list unless "
        "a child is OCI or annotations are set).",
    ),
]


@dataclass
class GlobalOptions:
    config_dir: Path | None = None
    certs_dir: Path | None = None
    debug: bool = False

    def store(self) -> ManifestStore:
        return ManifestStore(self.config_dir)

    def client(
        self,
        insecure: bool,
        username: str | None = None,
        password: str | None = None,
        registry: str | None = None,
    ) -> RegistryClient:
        """A client whose credentials come from the Docker config, or from explicit ones:
        the arguments, else MANIFESTOR_USERNAME / MANIFESTOR_PASSWORD (for CI), which apply
        to MANIFESTOR_REGISTRY only when that is set."""
        if username is None:
            username = os.environ.get("MANIFESTOR_USERNAME") or None
            password = os.environ.get("MANIFESTOR_PASSWORD") if username else None
            registry = os.environ.get("MANIFESTOR_REGISTRY") or None
            if username and not password:
                raise CredentialsError("MANIFESTOR_USERNAME is set but MANIFESTOR_PASSWORD is not")
        keychain = Keychain(
            self.config_dir, username=username, password=password, explicit_for=registry
        )
        return RegistryClient(keychain=keychain, insecure=insecure, certs_dir=self.certs_dir)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"manifestor {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Docker config directory (default: $DOCKER_CONFIG or ~/.docker)."
        ),
    ] = None,
    certs_dir: Annotated[
        Path | None,
        typer.Option(
            "--certs-dir", help="Root of per-registry TLS files (default: /etc/docker/certs.d)."
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Trace HTTP requests on stderr (secrets redacted).")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    ctx.obj = GlobalOptions(config_dir=config, certs_dir=certs_dir, debug=debug)
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root = logging.getLogger("manifestor")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)


def _options(ctx: typer.Context) -> GlobalOptions:
    return ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()


def _say(message: str) -> None:
    # print() looks sys.stderr up at call time, so while progress bars are live their
    # redirect puts the line above the bars instead of through them.
    print(message + "\n", end="", file=sys.stderr, flush=True)  # one write: see _tell


def _tell(message: str) -> None:
    """A result line on stdout (as `_say`, safe while progress bars are live). One write
    per line: children report from several threads, and print's separate newline write
    could interleave two lines."""
    print(message + "\n", end="", flush=True)


def _list_format(value: str) -> str:
    if value not in ("docker", "oci", "auto"):
        raise UsageError(f"--format must be docker, oci or auto, not {value!r}")
    return value


def _platforms(values: list[str]) -> tuple:
    return tuple(parse_platform(p) for v in values for p in v.split(",") if p.strip())


@app.command()
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
    opts = _options(ctx)
    list_ref = parse_reference(manifest_list)
    refs = [parse_reference(s) for s in sources]
    selection = SourceFilter(_platforms(platform), keep_attestations)
    with opts.client(insecure) as client:
        create_list(
            client, opts.store(), list_ref, refs, amend=amend, selection=selection, notify=_say
        )
    typer.echo(f"Created manifest list {list_ref}")


@app.command()
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
    opts = _options(ctx)
    change = Annotation(
        os=os.strip(),
        arch=arch.strip(),
        variant=variant.strip(),
        os_version=os_version.strip(),
        os_features=tuple(f.strip() for v in os_features for f in v.split(",") if f.strip()),
        annotations=_key_values(annotation),
        unset=frozenset(u.strip() for u in unset if u.strip()),
    )
    annotate_entry(opts.store(), parse_reference(manifest_list), parse_reference(image), change)


def _key_values(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--annotation wants KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


@app.command()
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
    list_format: FormatOption = "auto",
) -> None:
    """Show a local list, or a manifest or list in a registry (docker's JSON shape)."""
    opts = _options(ctx)
    if len(names) > 2:
        raise UsageError("inspect takes at most two names: [LIST] REF")
    # Checked up front: it only applies to local lists, but a bad value is still a mistake.
    chosen_format = _list_format(list_format)
    store = opts.store()
    if len(names) == 2:
        list_ref, image = parse_reference(names[0]), parse_reference(names[1])
        entry = from_stored(str(list_ref), find_entry(store.get(list_ref), image))
        if raw:
            sys.stdout.buffer.write(entry.manifest.raw)
        elif digest:
            _out(entry.manifest.digest + "\n")
        elif verbose:
            _out(verbose_view([entry], as_list=False))
        else:
            _out(manifest_view(entry.manifest))  # as docker: the image manifest alone
        return
    ref = parse_reference(names[0])
    if store.exists(ref):
        entries = load_entries(store, ref)
        document = list_document([e.descriptor for e in entries], chosen_format)  # type: ignore[arg-type]
        if digest:
            _out(document.digest + "\n")
        elif raw:
            sys.stdout.buffer.write(document.raw)
        elif verbose:
            _out(verbose_view(entries, as_list=True))
        else:
            _out(list_view(document))
        return
    with opts.client(insecure) as client:
        if digest:
            _out(remote_digest(client, ref) + "\n")
        elif raw:
            sys.stdout.buffer.write(remote_raw(client, ref))
        else:
            _out(remote_view(client, ref, verbose=verbose))


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command()
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
    list_format: FormatOption = "auto",
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="Source name with OS, ARCH, VARIANT placeholders "
            "(with --platforms), e.g. 'org/app:1.4-ARCHVARIANT'.",
        ),
    ] = None,
    platforms: Annotated[
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the digest.")] = False,
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
) -> None:
    """Push a local list, or assemble and push in one step from sources, a template or a spec.

    Prints `Pushed ref ...` for each child brought in from elsewhere and the list digest
    last (with several releases: `DIGEST TARGET` per release)."""
    opts = _options(ctx)
    fmt = _list_format(list_format)
    if attestations not in ("drop", "keep"):
        raise UsageError(f"--attestations must be drop or keep, not {attestations!r}")
    selection = SourceFilter(_platforms(platform or []), attestations == "keep")
    index_annotations = _key_values(annotation or [])
    releases = _releases(
        target, sources or [], template, platforms, spec, tag or [], index_annotations
    )
    if releases is not None and purge:
        raise UsageError("--purge removes a local list; it does not apply to a one-shot push")
    if releases is None and (ignore_missing or platform or attestations != "drop" or upsert):
        raise UsageError(
            "--ignore-missing, --platform, --attestations and --upsert apply to a one-shot push"
        )
    say = (lambda line: None) if quiet else _tell
    note = (lambda line: None) if quiet else _say
    with opts.client(insecure) as client, terminal_progress(wants_progress(quiet)) as bars:
        if releases is None:
            assert target is not None
            list_ref = parse_reference(target)
            local = Release(list_ref, (), tuple(tag or ()), index_annotations)
            results = _push_local_list(
                client,
                opts.store(),
                local,
                fmt,
                purge=purge,
                dry_run=dry_run,
                say=say,
                note=note,
                progress=bars,
            )
        else:
            options = ReleaseOptions(fmt, selection, ignore_missing, upsert)  # type: ignore[arg-type]
            results = _push_releases(
                client, releases, options, dry_run=dry_run, note=note, progress=bars
            )
    if results:
        _print_digests(results, digest_file)


def _push_local_list(
    client: RegistryClient,
    store: ManifestStore,
    local: Release,
    fmt: str,
    *,
    purge: bool,
    dry_run: bool,
    say: Callable[[str], None],
    note: Callable[[str], None],
    progress: Progress | None,
) -> list[PushResult]:
    """`push LIST`: the stored list, under its tag and any --tag (none on a dry run)."""
    if dry_run:
        _show_plan(client, local, stored_entries_to_push(store, local.target), fmt)
        return []
    result = push_stored_list(
        client,
        store,
        local.target,
        purge=purge,
        list_format=fmt,  # type: ignore[arg-type]
        annotations=local.annotations,
        extra_tags=[local.target.with_tag(t) for t in local.tags],
        notify=say,
        warn=note,
        progress=progress,
    )
    _report_unchanged(result, note)
    return [result]


def _push_releases(
    client: RegistryClient,
    releases: list[Release],
    options: ReleaseOptions,
    *,
    dry_run: bool,
    note: Callable[[str], None],
    progress: Progress | None,
) -> list[PushResult]:
    """One-shot releases; every one is resolved and checked before the first is written."""
    if dry_run:
        for release in releases:
            plan = plan_release(client, release, options, notify=note)
            _out(list_view(plan.document))
            for step in plan.steps:
                _say(f"plan: {step}")
        return []
    prepared = [prepare_release(client, r, options, notify=note) for r in releases]
    results = []
    for ready in prepared:
        result = publish_prepared(client, ready, options, notify=note, progress=progress)
        _report_unchanged(result, note)
        results.append(result)
    return results


def _print_digests(results: list[PushResult], digest_file: Path | None) -> None:
    """The digest last on stdout (`DIGEST TARGET` per release when there are several)."""
    text = "".join(
        f"{r.digest}\n" if len(results) == 1 else f"{r.digest} {r.target}\n" for r in results
    )
    _out(text)
    if digest_file is not None:
        try:
            digest_file.write_text(text)
        except OSError as exc:
            raise ManifestorError(
                f"cannot write --digest-file {digest_file}: {exc.strerror}"
            ) from None


def _report_unchanged(result: PushResult, note: Callable[[str], None]) -> None:
    if result.unchanged:
        note(f"unchanged: {result.target} already holds this list ({result.digest})")


def _releases(
    target: str | None,
    sources: list[str],
    template: str | None,
    platforms: str | None,
    spec: Path | None,
    tags: list[str],
    annotations: dict[str, str],
) -> list[Release] | None:
    """The one-shot releases asked for, or None for a plain `push LIST`."""
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
    if template is not None or platforms is not None:
        if template is None or platforms is None:
            raise UsageError("--template and --platforms go together")
        if sources:
            raise UsageError("give either SOURCE arguments or --template, not both")
        wanted = _platforms([platforms])
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


def _show_plan(
    client: RegistryClient, release: Release, entries: list[ListEntry], fmt: str
) -> None:
    check_entries(entries)
    document = list_document([e.descriptor for e in entries], fmt, release.annotations)  # type: ignore[arg-type]
    tags = [release.target] + [release.target.with_tag(t) for t in release.tags]
    _out(list_view(document))
    for step in plan_steps(client, release.target, entries, document, tags):
        _say(f"plan: {step}")


@app.command("rm")
def remove(
    ctx: typer.Context,
    manifest_lists: Annotated[
        list[str], typer.Argument(metavar="LIST...", help="Local lists to delete.")
    ],
) -> None:
    """Delete local lists (even corrupt ones). The registry is not touched."""
    failures = remove_lists(_options(ctx).store(), manifest_lists)
    for message in failures:
        _print_error(message)
    if failures:
        raise typer.Exit(1)


@app.command()
def verify(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(metavar="REF", help="The published list to check.")],
    platforms: Annotated[
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
    opts = _options(ctx)
    ref = parse_reference(reference)
    expected = _platforms([platforms]) if platforms else ()
    with opts.client(insecure) as client:
        report = verify_list(client, ref, expected=expected, allow_attestations=allow_attestations)
    if as_json:
        _out(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        _out(_verify_text(report))
    if not report.ok:
        raise typer.Exit(1)


def _verify_text(report: VerifyReport) -> str:
    lines = [f"{report.ref}  {report.digest}  {report.media_type}"]
    for child in report.children:
        claimed = "attestation" if child.attestation else str(child.claimed or "-")
        config = f"config {child.actual}" if child.actual else ""
        mark = "ok  " if child.ok else "FAIL"
        lines.append(f"  {mark} {claimed:<22} {child.digest}  {config}".rstrip())
        lines.extend(f"       {problem}" for problem in child.problems)
    lines.extend(f"  FAIL {problem}" for problem in report.problems)
    lines.append("verified: ok" if report.ok else "verified: FAILED")
    return "\n".join(lines) + "\n"


@app.command()
def login(
    ctx: typer.Context,
    registry: Annotated[
        str, typer.Argument(metavar="REGISTRY", help="host[:port]; docker.io for Docker Hub.")
    ],
    username: Annotated[str | None, typer.Option("--username", "-u", help="User name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    insecure: InsecureOption = False,
) -> None:
    """Check credentials against a registry, then store them like `docker login` does
    (the configured credential helper, else config.json auths, mode 0600)."""
    opts = _options(ctx)
    domain = _registry_domain(registry)
    username = username or os.environ.get("MANIFESTOR_USERNAME") or None
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    else:
        password = os.environ.get("MANIFESTOR_PASSWORD") or ""
    if not username or not password:
        raise UsageError(
            "login needs --username and --password-stdin (or MANIFESTOR_USERNAME and "
            "MANIFESTOR_PASSWORD)"
        )
    with opts.client(insecure, username, password, domain) as client:
        scheme = client.check_credentials(domain)
    if scheme == "none":
        _say(f"note: {domain} asks for no authentication; storing the credentials anyway")
    where = store_credentials(opts.config_dir, domain, username, password)
    _say(f"credentials for {domain} stored in {where}")
    typer.echo("Login Succeeded")


@app.command()
def logout(
    ctx: typer.Context,
    registry: Annotated[str, typer.Argument(metavar="REGISTRY")],
) -> None:
    """Remove stored credentials for a registry."""
    domain = _registry_domain(registry)
    if remove_credentials(_options(ctx).config_dir, domain):
        typer.echo(f"Removing login credentials for {domain}")
    else:
        _say(f"not logged in to {domain}")


def _registry_domain(text: str) -> str:
    """`host[:port]`, also accepting a URL or docker's Hub spellings."""
    text = text.strip().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if not text:
        raise UsageError("a registry host is required, e.g. registry.example.com:5000")
    if text in HUB_DOMAINS:
        return "docker.io"
    if not _HOST.fullmatch(text):
        raise UsageError(f"invalid registry {text!r}: expected host[:port]")
    return text


_HOST = re.compile(r"([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\])(:[0-9]+)?")


@app.command("ls")
def list_lists(ctx: typer.Context) -> None:
    """List the local lists."""
    summaries = _options(ctx).store().summaries()
    if not summaries:
        _say("no local manifest lists")
        return
    width = max(len(s.name) for s in summaries)
    typer.echo(f"{'NAME':<{width}}  ENTRIES  STATUS")
    for summary in summaries:
        status = f"corrupt: {summary.corrupt}" if summary.corrupt else "ok"
        typer.echo(f"{summary.name:<{width}}  {summary.entries:<7}  {status}")


def main() -> None:
    """Console entry point: run the app, turning every error into a one-line message."""
    debug = "--debug" in sys.argv[1:]
    try:
        # Not standalone: click raises its own usage errors (missing argument, unknown
        # option or command) instead of printing a multi-line usage block and exiting, so
        # they get the same one-line form as ours. Exit codes come back as the result.
        code = app(standalone_mode=False)
    except _click_errors.UsageError as error:
        if isinstance(error, _NO_ARGS_IS_HELP):
            error.show()  # a bare `manifestor`: the help text, as before
        else:
            hint = f"; see '{error.ctx.command_path} --help'" if error.ctx else ""
            _print_error(error.format_message().rstrip(".") + hint)
        sys.exit(error.exit_code)
    except _click_errors.ClickException as error:
        _print_error(error.format_message())
        sys.exit(error.exit_code)
    except typer.Abort:
        _print_error("aborted")
        sys.exit(1)
    except ManifestorError as error:
        if debug:
            raise
        _print_error(str(error) or type(error).__name__)
        sys.exit(error.exit_code)
    except OSError as error:
        # A file or directory the user pointed at (config, spec, digest file) failed in a
        # way no module anticipated: still one line, never a traceback.
        if debug:
            raise
        where = f" {error.filename}" if error.filename else ""
        _print_error(f"{error.strerror or error}{':' if where else ''}{where}")
        sys.exit(1)
    except KeyboardInterrupt:
        print("manifestor: interrupted", file=sys.stderr)
        sys.exit(130)
    # A command returns None; typer.Exit (and --help, --version) return their code.
    sys.exit(code if isinstance(code, int) else 0)


def _print_error(message: str) -> None:
    print(f"manifestor: error: {' '.join(message.split())}", file=sys.stderr)
