"""The `manifestor` command line: the typer app, its global options, and main(), which
turns every error into one line on stderr and an exit code (1 operational, 2 usage;
tracebacks only with --debug).

One module per command (create, annotate, inspect, push, verify, login/logout, rm, ls,
doctor, build);
each parses its options, calls one workflow in ops/ and prints through output.py, the
only module that prints. A command module is imported, and its options built, only when
that command runs (or --help lists it), and it imports what it needs inside its function,
so start-up stays fast.

To add a command: write `cli/<name>.py` with one function (its docstring is the help),
then add one line to COMMANDS below, e.g. `"doctor": ("doctor", "doctor"),`."""

import importlib
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer vendors click since 0.2x; older releases raise the click package's errors
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_errors  # type: ignore[no-redef,import-not-found,unused-ignore]

from manifestor import __version__
from manifestor.cli import output
from manifestor.cli.options import GlobalOptions
from manifestor.errors import ManifestorError

# click >= 8.2 signals "no arguments: show the help" with this usage error.
_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(_click_errors, "NoArgsIsHelpError", ())

# The commands, in the order `--help` lists them: name -> (module in cli/, function).
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("create", "create"),
    "annotate": ("annotate", "annotate"),
    "inspect": ("inspect", "inspect"),
    "push": ("push", "push"),
    "rm": ("rm", "rm"),
    "verify": ("verify", "verify"),
    "login": ("login", "login"),
    "logout": ("login", "logout"),
    "ls": ("ls", "ls"),
    "doctor": ("doctor", "doctor"),
    "build": ("build", "build"),
}

_SETTINGS: dict[str, Any] = {
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
    "add_completion": False,
}


class _LazyCommands(TyperGroup):
    """Builds a command (imports its module, turns its signature into options) only when
    it is looked up: to run it, to show its help, or to list it in `manifestor --help`."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:  # click looks a command up more than once
            module_name, function = COMMANDS[cmd_name]
            module = importlib.import_module(f"manifestor.cli.{module_name}")
            single = typer.Typer(**_SETTINGS)
            single.command(cmd_name)(getattr(module, function))
            self.commands[cmd_name] = typer.main.get_command(single)
        return self.commands[cmd_name]


app = typer.Typer(
    name="manifestor",
    help="Stitch per-architecture images into one multi-platform tag (manifest list / OCI index).",
    cls=_LazyCommands,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},  # commands inherit it
    **{**_SETTINGS, "add_completion": True},  # --install-completion, --show-completion
)


def _version(value: bool) -> None:
    if value:
        output.result(f"manifestor {__version__}")
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
            "--certs-dir",
            help="Root of per-registry TLS files (default: /etc/docker/certs.d, then "
            "/etc/containers/certs.d and ~/.config/containers/certs.d).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Trace HTTP requests on stderr (secrets redacted).")
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            envvar="MANIFESTOR_TIMEOUT",
            help="Time limit for the whole run: seconds, or 90s, 15m, 2h (default: none).",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    deadline = None
    if timeout:
        from manifestor.remote.deadline import parse_timeout

        deadline = parse_timeout(timeout, "--timeout (MANIFESTOR_TIMEOUT)")
    ctx.obj = GlobalOptions(config_dir=config, certs_dir=certs_dir, debug=debug, deadline=deadline)
    if debug:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root = logging.getLogger("manifestor")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)


def main() -> NoReturn:
    """Console entry point: run the app, print every error as one line, and exit."""
    _leave(run())


def run() -> int:
    """Run the app on sys.argv; every error becomes one line on stderr. Returns the exit
    code (0, 1 operational, 2 usage, 130 interrupted) instead of exiting."""
    debug = "--debug" in sys.argv[1:]
    try:
        # Not standalone: click raises its own usage errors (missing argument, unknown
        # option or command) instead of printing a multi-line usage block and exiting, so
        # they get the same one-line form as ours. Exit codes come back as the result.
        code = app(standalone_mode=False, prog_name="manifestor")
    except _click_errors.UsageError as error:
        if isinstance(error, _NO_ARGS_IS_HELP):
            error.show()  # a bare `manifestor`: the help text, as before
        else:
            hint = f"; see '{error.ctx.command_path} --help'" if error.ctx else ""
            output.error(error.format_message().rstrip(".") + hint)
        return error.exit_code
    except _click_errors.ClickException as error:
        output.error(error.format_message())
        return error.exit_code
    except typer.Abort as error:
        if isinstance(error.__cause__, KeyboardInterrupt):
            return _interrupted()  # click turns Ctrl-C into Abort
        output.error("aborted")
        return 1
    except ManifestorError as error:
        if debug:
            raise
        output.error(str(error) or type(error).__name__)
        return error.exit_code
    except OSError as error:
        # A file or directory the user pointed at (config, spec, digest file) failed in a
        # way no module anticipated: still one line, never a traceback.
        if debug:
            raise
        where = f" {error.filename}" if error.filename else ""
        output.error(f"{error.strerror or error}{':' if where else ''}{where}")
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    if code == 130:  # newer typer turns Ctrl-C into Exit(130), silently
        return _interrupted()
    # A command returns None; typer.Exit (and --help, --version) return their code.
    return code if isinstance(code, int) else 0


def _interrupted() -> int:
    # The run's work has stopped by now (see remote/jobs.py); the list is PUT last, so
    # no tag points at a half-pushed list.
    output.note("manifestor: interrupted")
    return 130


def _leave(code: int) -> NoReturn:
    """Exit with `code`, skipping the interpreter's teardown when nothing needs it.

    Tearing down a process that imported requests, urllib3 and typer (freeing every
    module, class and object one by one) costs about 50 ms, a sixth of a whole push;
    the kernel frees all of it at once. Skipped only when it is safe: every line is
    written (stdout and stderr flushed here), the work is over (no thread but daemons
    left: remote/jobs.py's workers are daemons and idle once the command returned), and
    no coverage tool waits for its exit hook."""
    streams_ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`manifestor ls | head`)
            streams_ok = False
    if streams_ok and not _teardown_needed():
        os._exit(code)
    sys.exit(code)


def _teardown_needed() -> bool:
    if "coverage" in sys.modules:  # it saves its data in an exit hook
        return True
    return any(
        thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
        for thread in threading.enumerate()
    )
