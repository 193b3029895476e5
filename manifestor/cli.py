"""The `manifestor` command line: parse arguments, call the library, print results.

Results go to stdout, diagnostics to stderr. A ManifestorError becomes one line on
stderr and its exit code (1 operational, 2 usage); tracebacks only with --debug."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from manifestor import __version__
from manifestor.errors import ManifestorError

app = typer.Typer(
    name="manifestor",
    help="Stitch per-architecture images into one multi-platform tag (manifest list / OCI index).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class GlobalOptions:
    config_dir: Path | None = None
    debug: bool = False


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
    ctx.obj = GlobalOptions(config_dir=config, debug=debug)
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root = logging.getLogger("manifestor")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)


def fail(error: ManifestorError) -> NoReturn:
    message = " ".join(str(error).split()) or type(error).__name__
    typer.echo(f"manifestor: error: {message}", err=True)
    raise typer.Exit(error.exit_code)


def main() -> None:
    """Console entry point: run the app, turning library errors into one-line messages."""
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except ManifestorError as error:
        if debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"manifestor: error: {message}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        print("manifestor: interrupted", file=sys.stderr)
        sys.exit(130)
