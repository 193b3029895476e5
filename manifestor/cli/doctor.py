"""`manifestor doctor`: print what this host can build and run, each problem with the
command that fixes it; exit 1 when a platform named in --platforms cannot be built."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import global_options
from manifestor.cli.options import platforms as parse_platforms
from manifestor.local.binfmt import DEFAULT_BINFMT_DIR

if TYPE_CHECKING:  # imported when the command runs (start-up time)
    from manifestor.ops.doctor import DoctorReport, Problem


def doctor(
    ctx: typer.Context,
    platforms: Annotated[
        str | None,
        typer.Option(
            "--platforms",
            help="Platforms to check, comma-separated (exit 1 if one cannot be built here).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    binfmt_dir: Annotated[
        Path,
        typer.Option("--binfmt-dir", help="Where binfmt_misc is mounted."),
    ] = DEFAULT_BINFMT_DIR,
) -> None:
    """What this host can build: native and emulated platforms (QEMU through
    binfmt_misc), builders, credential sources and certificate directories, with the
    command that fixes each problem."""
    from manifestor.local.builders import store_from_environment
    from manifestor.model.platform import validate_platform
    from manifestor.ops.doctor import HostFacts, run_doctor
    from manifestor.remote.tls import DEFAULT_CERTS_DIR

    opts = global_options(ctx)
    wanted = parse_platforms([platforms]) if platforms else ()
    for platform in wanted:
        validate_platform(platform)
    facts = HostFacts(
        binfmt_dir=binfmt_dir,
        docker_config=opts.config_dir,
        certs_dir=opts.certs_dir or DEFAULT_CERTS_DIR,
    )
    report = run_doctor(wanted, facts, store=store_from_environment())
    if as_json:
        body = report.to_json()
        if wanted:
            body["can_build"] = report.can_build(wanted)
        output.result(json.dumps(body, indent=2) + "\n")
    else:
        output.result(doctor_text(report, bool(wanted)))
    if wanted and not report.can_build(wanted):
        raise typer.Exit(1)


def doctor_text(report: "DoctorReport", asked: bool) -> str:
    native = ", ".join(str(p) for p in report.native) or "none known"
    lines = [f"host: {report.machine}, runs natively: {native}"]
    state = report.binfmt
    if not state.mounted:
        lines.append(f"binfmt_misc: not mounted at {state.root}")
    else:
        enabled = "enabled" if state.enabled else "DISABLED"
        lines.append(f"binfmt_misc: mounted at {state.root} ({enabled})")
        for h in state.handlers:
            where = h.interpreter + ("" if h.interpreter_exists else " (MISSING)")
            runs = ", ".join(str(p) for p in h.platforms) or "no container platform"
            status = "enabled " if h.enabled else "disabled"
            lines.append(f"  {h.name:<16} {status} flags {h.flags or '-':<4} {where}  [{runs}]")
    lines.append("platforms:")
    for support in report.platforms:
        if support.mode == "native":
            what = "native"
        elif support.mode == "emulated":
            what = f"emulated ({support.handler})"
        else:
            what = "not runnable"
        mark = "ok  " if support.runnable else ("FAIL" if asked else "--  ")
        lines.append(f"  {mark} {str(support.platform):<16} {what}")
        lines += _problem_lines(support.problem, "       ")
    lines.append("builders:")
    for builder in report.builders:
        mark = "ok  " if builder.usable else "--  "
        where = f" ({builder.path})" if builder.path else ""
        details = f": {', '.join(builder.details)}" if builder.details else ""
        lines.append(f"  {mark} {builder.version or builder.name}{where}{details}")
        if not builder.usable:
            lines.append(f"       {builder.reason}")
            if builder.fix:
                lines.append(f"       fix: {builder.fix}")
    lines.append("credentials:")
    if not report.credentials:
        lines.append("  none configured (anonymous access)")
    for source in report.credentials:
        lines.append(f"  {source.registry}: {source.source} [{source.used_by}]")
    lines.append("certificate directories:")
    for directory in report.cert_dirs:
        hosts = ", ".join(directory.hosts) or "no host directories"
        lines.append(f"  {directory.path} [{directory.used_by}]: {hosts}")
    if report.problems:
        lines.append("problems:")
        for problem in report.problems:
            lines += _problem_lines(problem, "  ")
    else:
        lines.append("no problems found")
    return "\n".join(lines) + "\n"


def _problem_lines(problem: "Problem | None", indent: str) -> list[str]:
    if problem is None:
        return []
    return [f"{indent}{problem.message}", f"{indent}fix: {problem.fix}"]
