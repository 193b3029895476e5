"""`doctor`: what this host can build and run, and the exact command that fixes what it
cannot — native platforms, binfmt_misc and its QEMU handlers, builders, where registry
credentials come from (never the secrets), which certificate directories are read.
Builds the report only; the CLI prints it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from manifestor.errors import CredentialsError
from manifestor.local.binfmt import (
    DEFAULT_BINFMT_DIR,
    HANDLER_PLATFORMS,
    BinfmtState,
    Handler,
    handler_name_for,
    is_native,
    native_platforms,
    read_binfmt,
)
from manifestor.local.builders import BuilderStatus, detect_builders
from manifestor.local.keychain import CredentialSource, credential_sources
from manifestor.model.platform import Platform, parse_platform, platforms_match
from manifestor.remote.tls import CONTAINERS_CERTS_DIR, DEFAULT_CERTS_DIR

# Shown when no --platforms is given, with every platform a registered handler runs.
COMMON_PLATFORMS = tuple(
    parse_platform(p)
    for p in (
        "linux/amd64",
        "linux/386",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/riscv64",
        "linux/ppc64le",
        "linux/s390x",
    )
)
# Where Debian's qemu-user-static puts the interpreter for each handler.
_QEMU_INTERPRETER = "/usr/libexec/qemu-binfmt/{arch}-binfmt-P"
_INSTALL_QEMU = "apt-get install qemu-user-static binfmt-support"

Mode = Literal["native", "emulated", "unavailable"]


@dataclass(frozen=True)
class Problem:
    """Something that stops a build or a registry login, and the command that fixes it."""

    message: str
    fix: str


@dataclass(frozen=True)
class PlatformSupport:
    platform: Platform
    mode: Mode
    handler: str | None = None
    problem: Problem | None = None

    @property
    def runnable(self) -> bool:
        return self.mode != "unavailable"


@dataclass(frozen=True)
class CertDir:
    path: Path
    hosts: tuple[str, ...]
    used_by: str


@dataclass(frozen=True)
class HostFacts:
    """Where doctor looks; tests replace these with a fake tree and fake tools."""

    binfmt_dir: Path = DEFAULT_BINFMT_DIR
    machine: str | None = None
    which: Callable[[str], str | None] = shutil.which
    exists: Callable[[str], bool] = os.path.exists
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    docker_config: Path | None = None
    certs_dir: Path = DEFAULT_CERTS_DIR
    containers_certs_dir: Path = CONTAINERS_CERTS_DIR


@dataclass(frozen=True)
class DoctorReport:
    machine: str
    native: tuple[Platform, ...]
    binfmt: BinfmtState
    platforms: tuple[PlatformSupport, ...]
    builders: tuple[BuilderStatus, ...]
    credentials: tuple[CredentialSource, ...] = ()
    cert_dirs: tuple[CertDir, ...] = ()
    problems: tuple[Problem, ...] = ()
    facts: HostFacts = field(default_factory=HostFacts, repr=False, compare=False)

    def support(self, platform: Platform) -> PlatformSupport:
        """How `platform` runs here (also one that was not asked about)."""
        for known in self.platforms:
            if platforms_match(known.platform, platform):
                return known
        return _support(platform, self.native, self.binfmt, self.facts)

    @property
    def builder(self) -> BuilderStatus | None:
        """The first builder that can build here (the one `--builder auto` takes)."""
        return next((b for b in self.builders if b.usable), None)

    def cannot_build(self, platforms: Iterable[Platform]) -> list[Problem]:
        """Why each of `platforms` cannot be built here; empty when all can."""
        out = []
        if self.builder is None:
            fixes = "; or ".join(b.fix for b in self.builders if b.fix) or "apt-get install buildah"
            out.append(Problem("no builder can build on this host", fixes))
        for platform in platforms:
            support = self.support(platform)
            if support.problem is not None and not support.runnable:
                out.append(support.problem)
        return out

    def can_build(self, platforms: Iterable[Platform]) -> bool:
        return not self.cannot_build(platforms)

    def to_json(self) -> dict[str, object]:
        return {
            "machine": self.machine,
            "native": [str(p) for p in self.native],
            "binfmt_misc": {
                "path": str(self.binfmt.root),
                "mounted": self.binfmt.mounted,
                "enabled": self.binfmt.enabled,
                "handlers": [_handler_json(h) for h in self.binfmt.handlers],
            },
            "platforms": [
                {
                    "platform": str(s.platform),
                    "mode": s.mode,
                    "handler": s.handler,
                    "problem": _problem_json(s.problem),
                }
                for s in self.platforms
            ],
            "builders": [
                {
                    "name": b.name,
                    "path": b.path,
                    "version": b.version,
                    "usable": b.usable,
                    "reason": b.reason or None,
                    "fix": b.fix or None,
                    "details": list(b.details),
                }
                for b in self.builders
            ],
            "credentials": [
                {"registry": c.registry, "source": c.source, "used_by": c.used_by}
                for c in self.credentials
            ],
            "certificate_dirs": [
                {"path": str(d.path), "hosts": list(d.hosts), "used_by": d.used_by}
                for d in self.cert_dirs
            ],
            "problems": [_problem_json(p) for p in self.problems],
        }


def run_doctor(
    platforms: Sequence[Platform] = (),
    host: HostFacts | None = None,
    builders: Sequence[BuilderStatus] | None = None,
    store: Path | None = None,
) -> DoctorReport:
    """Look at this host. `platforms`: the ones asked about (default: the common ones
    and every one a registered handler runs). `builders`: already detected ones."""
    facts = host or HostFacts()
    machine = facts.machine or os.uname().machine
    native = native_platforms(machine)
    state = read_binfmt(facts.binfmt_dir)
    wanted = list(platforms) or _default_platforms(native, state)
    supports = tuple(_support(p, native, state, facts) for p in wanted)
    found = tuple(builders) if builders is not None else detect_builders(store, facts.which)
    credentials, credential_problems = _credential_sources(facts)
    problems = _binfmt_problems(state, facts) + credential_problems
    if platforms:  # the default list is a survey; only platforms asked for are problems
        problems += [s.problem for s in supports if s.problem is not None]
    if not any(b.usable for b in found):
        problems.append(
            Problem(
                "no builder can build on this host",
                "; or ".join(b.fix for b in found if b.fix) or "apt-get install buildah",
            )
        )
    return DoctorReport(
        machine,
        native,
        state,
        supports,
        found,
        credentials,
        _cert_dirs(facts),
        tuple(_unique(problems)),
        facts,
    )


def _default_platforms(native: tuple[Platform, ...], state: BinfmtState) -> list[Platform]:
    out = list(native)
    candidates = list(COMMON_PLATFORMS) + [p for h in state.handlers for p in h.platforms[:1]]
    for platform in candidates:
        if not any(platforms_match(platform, seen) for seen in out):
            out.append(platform)
    return out


def _support(
    platform: Platform, native: tuple[Platform, ...], state: BinfmtState, facts: HostFacts
) -> PlatformSupport:
    if is_native(platform, native):
        return PlatformSupport(platform, "native")
    name = handler_name_for(platform)
    if name is None:
        problem = Problem(
            f"{platform} has no QEMU emulation and this {facts.machine or os.uname().machine} "
            "host cannot run it",
            f"build {platform} on a native machine (`manifestor build --platforms {platform} "
            "--upsert` there)",
        )
        return PlatformSupport(platform, "unavailable", None, problem)
    handler = state.handler_for(platform)
    trouble = _handler_problem(platform, name, handler, state, facts)
    if trouble is None:
        return PlatformSupport(platform, "emulated", name)
    return PlatformSupport(platform, "unavailable", name, trouble)


def _handler_problem(
    platform: Platform,
    name: str,
    handler: Handler | None,
    state: BinfmtState,
    facts: HostFacts,
) -> Problem | None:
    root = state.root
    enable = _enable_steps(name, facts)
    if not state.mounted:
        return Problem(
            f"{platform} needs QEMU, but binfmt_misc is not mounted at {root}",
            " && ".join([f"mount -t binfmt_misc none {root}", *enable]),
        )
    if handler is None:
        return Problem(
            f"{platform} needs the {name} binfmt_misc handler, which is not registered",
            " && ".join(enable),
        )
    if not state.enabled:
        return Problem(f"binfmt_misc is disabled as a whole at {root}", f"echo 1 > {root}/status")
    if not handler.enabled:
        return Problem(f"the {name} handler is disabled", f"echo 1 > {root}/{name}")
    if not handler.interpreter_exists and not handler.fix_binary:
        return Problem(
            f"the {name} handler's interpreter {handler.interpreter} does not exist",
            f"echo -1 > {root}/{name} && " + " && ".join(enable),
        )
    if not handler.fix_binary:
        return Problem(
            f"the {name} handler has no F flag (flags: {handler.flags or 'none'}), so builds in "
            "a chroot or container cannot find its interpreter",
            f"echo -1 > {root}/{name} && " + " && ".join(enable),
        )
    return None


def _enable_steps(name: str, facts: HostFacts) -> list[str]:
    """Install QEMU when its interpreter is missing, then register `name` (Debian's
    binfmt-support registers qemu-user-static's handlers with the F flag)."""
    steps = []
    interpreter = _QEMU_INTERPRETER.format(arch=name.removeprefix("qemu-"))
    if not facts.exists(interpreter) or facts.which("update-binfmts") is None:
        steps.append(_INSTALL_QEMU)
    steps.append(f"update-binfmts --enable {name}")
    return steps


def _binfmt_problems(state: BinfmtState, facts: HostFacts) -> list[Problem]:
    """Problems of registered QEMU handlers, whether or not a platform was asked about."""
    if not state.mounted:
        return []
    out = []
    for handler in state.handlers:
        if handler.name not in HANDLER_PLATFORMS:
            continue
        problem = _handler_problem(handler.platforms[0], handler.name, handler, state, facts)
        if problem is not None:
            out.append(problem)
    return out


def _credential_sources(facts: HostFacts) -> tuple[tuple[CredentialSource, ...], list[Problem]]:
    try:
        sources = credential_sources(facts.docker_config, facts.environ)
    except CredentialsError as exc:
        return (), [Problem(str(exc), "fix or remove the malformed credentials configuration")]
    problems = []
    for helper in dict.fromkeys(s.helper for s in sources if s.helper):
        program = f"docker-credential-{helper}"
        if facts.which(program) is None:
            problems.append(
                Problem(f"{program} is configured but not on PATH", f"install {program}")
            )
    return tuple(sources), problems


def _cert_dirs(facts: HostFacts) -> tuple[CertDir, ...]:
    return (
        CertDir(facts.certs_dir, _hosts(facts.certs_dir), "manifestor"),
        CertDir(
            facts.containers_certs_dir,
            _hosts(facts.containers_certs_dir),
            "buildah/podman (base images)",
        ),
    )


def _hosts(directory: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(p.name for p in directory.iterdir() if p.is_dir()))
    except OSError:
        return ()


def _handler_json(handler: Handler) -> dict[str, object]:
    return {
        "name": handler.name,
        "enabled": handler.enabled,
        "interpreter": handler.interpreter,
        "interpreter_exists": handler.interpreter_exists,
        "flags": handler.flags,
        "fix_binary": handler.fix_binary,
        "platforms": [str(p) for p in handler.platforms],
    }


def _problem_json(problem: Problem | None) -> dict[str, str] | None:
    return None if problem is None else {"message": problem.message, "fix": problem.fix}


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
