"""`doctor` against fake binfmt_misc trees (unmounted, handler disabled, interpreter
missing, no F flag, all good), then against this machine's real one, through the
library and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from buildhelpers import require_build_host
from clihelpers import Cli, assert_one_line_error

from manifestor.local.binfmt import (
    DEFAULT_BINFMT_DIR,
    native_platforms,
    parse_handler,
    read_binfmt,
)
from manifestor.local.builders import BuilderStatus
from manifestor.model.platform import parse_platform
from manifestor.ops.doctor import HostFacts, run_doctor

ARM64 = parse_platform("linux/arm64/v8")
ARMV7 = parse_platform("linux/arm/v7")
AMD64 = parse_platform("linux/amd64")
BUILDAH = BuilderStatus("buildah", "/usr/bin/buildah", "buildah version 1.28.2", usable=True)
MAGIC = "7f454c460201010000000000000000000200b700"


def _binfmt(tmp_path: Path, *, mounted: bool = True, status: str = "enabled") -> Path:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    if mounted:
        (root / "status").write_text(status + "\n")
        (root / "register").write_text("")
    return root


def _interpreter(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "qemu" / f"{name}-binfmt-P"
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/false\n")
    return path


def _handler(root: Path, name: str, interpreter: Path, *, enabled: bool = True, flags: str = "PF"):
    (root / name).write_text(
        f"{'enabled' if enabled else 'disabled'}\ninterpreter {interpreter}\nflags: {flags}\n"
        f"offset 0\nmagic {MAGIC}\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
    )


def _doctor(root: Path, *platforms: str, tmp_path: Path):
    facts = HostFacts(
        binfmt_dir=root,
        machine="x86_64",
        environ={"HOME": str(tmp_path / "home")},
        docker_config=tmp_path / "docker",
        certs_dir=tmp_path / "certs.d",
        containers_certs_dir=tmp_path / "containers-certs.d",
    )
    return run_doctor(tuple(parse_platform(p) for p in platforms), facts, builders=[BUILDAH])


def test_unmounted_binfmt_names_the_mount_and_enable_commands(tmp_path: Path) -> None:
    root = _binfmt(tmp_path, mounted=False)
    report = _doctor(root, "linux/amd64", "linux/arm64", "linux/arm/v7", tmp_path=tmp_path)
    assert not report.binfmt.mounted
    assert report.support(AMD64).mode == "native"
    for platform, name in ((ARM64, "qemu-aarch64"), (ARMV7, "qemu-arm")):
        support = report.support(platform)
        assert support.mode == "unavailable"
        assert support.problem is not None
        assert support.problem.fix.startswith(f"mount -t binfmt_misc none {root} && ")
        assert support.problem.fix.endswith(f"update-binfmts --enable {name}")
    assert not report.can_build([ARM64])
    assert report.can_build([AMD64])


def test_no_handler_registered_then_registering_makes_it_emulated(tmp_path: Path) -> None:
    root = _binfmt(tmp_path)
    report = _doctor(root, "linux/arm64/v8", tmp_path=tmp_path)
    problem = report.support(ARM64).problem
    assert problem is not None and "not registered" in problem.message
    assert problem.fix.endswith("update-binfmts --enable qemu-aarch64")
    # What `update-binfmts --enable qemu-aarch64` leaves behind:
    _handler(root, "qemu-aarch64", _interpreter(tmp_path, "aarch64"))
    fixed = _doctor(root, "linux/arm64/v8", tmp_path=tmp_path)
    assert fixed.support(ARM64).mode == "emulated"
    assert fixed.support(ARM64).handler == "qemu-aarch64"
    assert fixed.can_build([ARM64]) and fixed.problems == ()


def test_disabled_handler_is_enabled_by_writing_1(tmp_path: Path) -> None:
    root = _binfmt(tmp_path)
    _handler(root, "qemu-arm", _interpreter(tmp_path, "arm"), enabled=False)
    report = _doctor(root, "linux/arm/v7", tmp_path=tmp_path)
    support = report.support(ARMV7)
    assert support.mode == "unavailable"
    assert support.problem is not None
    assert support.problem.fix == f"echo 1 > {root}/qemu-arm"
    assert report.binfmt.handlers[0].enabled is False


def test_globally_disabled_binfmt_is_enabled_through_status(tmp_path: Path) -> None:
    root = _binfmt(tmp_path, status="disabled")
    _handler(root, "qemu-aarch64", _interpreter(tmp_path, "aarch64"))
    report = _doctor(root, "linux/arm64", tmp_path=tmp_path)
    problem = report.support(ARM64).problem
    assert problem is not None and problem.fix == f"echo 1 > {root}/status"


def test_missing_interpreter_without_f_flag_is_not_runnable(tmp_path: Path) -> None:
    root = _binfmt(tmp_path)
    _handler(root, "qemu-aarch64", tmp_path / "gone" / "aarch64-binfmt-P", flags="P")
    report = _doctor(root, "linux/arm64", tmp_path=tmp_path)
    (handler,) = report.binfmt.handlers
    assert not handler.interpreter_exists and not handler.runs
    problem = report.support(ARM64).problem
    assert problem is not None and "does not exist" in problem.message
    assert problem.fix.startswith(f"echo -1 > {root}/qemu-aarch64 && ")


def test_missing_interpreter_with_f_flag_still_runs(tmp_path: Path) -> None:
    # F opened the interpreter at registration; the kernel keeps using that file.
    root = _binfmt(tmp_path)
    _handler(root, "qemu-aarch64", tmp_path / "gone" / "aarch64-binfmt-P", flags="PF")
    report = _doctor(root, "linux/arm64", tmp_path=tmp_path)
    assert report.support(ARM64).mode == "emulated"


def test_handler_without_f_flag_cannot_build_in_a_chroot(tmp_path: Path) -> None:
    root = _binfmt(tmp_path)
    _handler(root, "qemu-aarch64", _interpreter(tmp_path, "aarch64"), flags="P")
    report = _doctor(root, "linux/arm64", tmp_path=tmp_path)
    (handler,) = report.binfmt.handlers
    assert handler.runs and not handler.fix_binary
    support = report.support(ARM64)
    assert support.mode == "unavailable"
    assert support.problem is not None and "no F flag" in support.problem.message
    assert support.problem.fix.startswith(f"echo -1 > {root}/qemu-aarch64 && ")
    assert support.problem.fix.endswith("update-binfmts --enable qemu-aarch64")


def test_all_good_reports_native_and_emulated_platforms(tmp_path: Path) -> None:
    root = _binfmt(tmp_path)
    _handler(root, "qemu-aarch64", _interpreter(tmp_path, "aarch64"))
    _handler(root, "qemu-arm", _interpreter(tmp_path, "arm"), flags="POCF")
    report = _doctor(
        root, "linux/amd64", "linux/386", "linux/arm64", "linux/arm/v6", tmp_path=tmp_path
    )
    modes = {str(s.platform): (s.mode, s.handler) for s in report.platforms}
    assert modes == {
        "linux/amd64": ("native", None),
        "linux/386": ("native", None),
        "linux/arm64": ("emulated", "qemu-aarch64"),
        "linux/arm/v6": ("emulated", "qemu-arm"),
    }
    assert report.problems == ()
    assert report.can_build([AMD64, ARM64, ARMV7])
    handler = next(h for h in report.binfmt.handlers if h.name == "qemu-aarch64")
    assert (handler.flags, handler.magic[:8], handler.offset) == ("PF", "7f454c46", 0)


def test_platform_without_qemu_support_says_to_build_natively(tmp_path: Path) -> None:
    report = _doctor(_binfmt(tmp_path), "windows/amd64", tmp_path=tmp_path)
    windows = report.support(parse_platform("windows/amd64"))
    assert windows.mode == "unavailable" and windows.problem is not None
    assert "native machine" in windows.problem.fix


def test_no_usable_builder_cannot_build_even_native_platforms(tmp_path: Path) -> None:
    docker = BuilderStatus(
        "docker", "/usr/bin/docker", reason="no Docker daemon", fix="start dockerd"
    )
    facts = HostFacts(binfmt_dir=_binfmt(tmp_path), machine="x86_64", environ={})
    report = run_doctor((AMD64,), facts, builders=[docker])
    assert report.builder is None
    assert not report.can_build([AMD64])
    assert any("start dockerd" in p.fix for p in report.problems)


def test_native_platforms_per_machine(tmp_path: Path) -> None:
    none = tmp_path / "absent"
    assert [str(p) for p in native_platforms("x86_64", none)] == ["linux/amd64", "linux/386"]
    assert [str(p) for p in native_platforms("aarch64", none)] == ["linux/arm64/v8"]
    cpus = tmp_path / "aarch32_el0"
    cpus.write_text("0-3\n")
    assert "linux/arm/v7" in [str(p) for p in native_platforms("aarch64", cpus)]


def test_handler_file_parsing_keeps_flags_and_extension_handlers() -> None:
    handler = parse_handler(
        "python3.11", "enabled\ninterpreter /usr/bin/python3.11\nflags: \nextension .pyc\n"
    )
    assert handler.enabled and handler.flags == "" and handler.platforms == ()
    assert handler.interpreter == "/usr/bin/python3.11"


def test_credential_sources_name_files_and_helpers_never_secrets(tmp_path: Path) -> None:
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(
        json.dumps(
            {
                "auths": {"reg.example.com": {"auth": "dXNlcjpzM2NyM3Q="}},
                "credHelpers": {"gcr.io": "gcloud"},
            }
        )
    )
    facts = HostFacts(
        binfmt_dir=_binfmt(tmp_path),
        machine="x86_64",
        environ={"HOME": str(tmp_path / "home"), "MANIFESTOR_USERNAME": "ci"},
        docker_config=docker,
        which=lambda name: None,
    )
    report = run_doctor((AMD64,), facts, builders=[BUILDAH])
    sources = {c.registry: c.source for c in report.credentials}
    assert sources["reg.example.com"] == f"{docker / 'config.json'} auths (username/password)"
    assert sources["gcr.io"].startswith("docker-credential-gcloud")
    assert sources["every registry"] == "MANIFESTOR_USERNAME / MANIFESTOR_PASSWORD"
    assert "s3cr3t" not in json.dumps(report.to_json())
    assert any(
        "docker-credential-gcloud is configured but not on PATH" in p.message
        for p in report.problems
    )


# -- the real machine -------------------------------------------------------------------


@pytest.mark.integration  # buildah and QEMU on this host
def test_real_host_emulates_arm_and_runs_amd64_natively() -> None:
    require_build_host()
    report = run_doctor((AMD64, ARM64, ARMV7))
    assert os.uname().machine == "x86_64"  # what the emulation expectations below assume
    assert report.binfmt.mounted and report.binfmt.root == DEFAULT_BINFMT_DIR
    assert report.support(AMD64).mode == "native"
    assert report.support(ARM64).mode == "emulated"
    assert report.support(ARMV7).handler == "qemu-arm"
    assert report.builder is not None and report.builder.name == "buildah"
    assert report.can_build([AMD64, ARM64, ARMV7])


@pytest.mark.integration  # buildah and QEMU on this host
def test_real_disabled_handler_is_named_and_its_fix_works(cli: Cli) -> None:
    """Disable the real qemu-aarch64 handler, run the fix doctor prints, check again."""
    require_build_host()
    handler = DEFAULT_BINFMT_DIR / "qemu-aarch64"
    handler.write_text("0")
    try:
        broken = cli.run("doctor", "--platforms", "linux/arm64", "--json")
        assert broken.returncode == 1, str(broken)
        body = broken.json()
        (support,) = body["platforms"]
        assert support["mode"] == "unavailable"
        fix = support["problem"]["fix"]
        assert fix == f"echo 1 > {handler}"
        subprocess.run(["sh", "-c", fix], check=True)
        fixed = cli.run("doctor", "--platforms", "linux/arm64", "--json")
        assert fixed.returncode == 0, str(fixed)
        assert fixed.json()["platforms"][0]["mode"] == "emulated"
        assert fixed.json()["can_build"] is True
    finally:
        handler.write_text("1")
    assert read_binfmt().handler_for(ARM64).enabled  # type: ignore[union-attr]


# -- the command line ------------------------------------------------------------------


@pytest.mark.integration  # the CLI as a subprocess
def test_cli_doctor_on_a_fake_tree_exits_1_and_prints_the_fix(cli: Cli, tmp_path: Path) -> None:
    root = _binfmt(tmp_path, mounted=False)
    result = cli.run("doctor", "--binfmt-dir", str(root), "--platforms", "linux/amd64,linux/arm/v7")
    assert result.returncode == 1, str(result)
    assert f"binfmt_misc: not mounted at {root}" in result.stdout
    assert "FAIL linux/arm/v7" in result.stdout
    assert f"fix: mount -t binfmt_misc none {root} && " in result.stdout
    assert "ok   linux/amd64      native" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.integration  # the CLI as a subprocess
def test_cli_doctor_without_platforms_surveys_and_exits_0(cli: Cli, tmp_path: Path) -> None:
    root = _binfmt(tmp_path)
    result = cli.run("doctor", "--binfmt-dir", str(root), "--json")
    assert result.returncode == 0, str(result)
    body = result.json()
    platforms = {p["platform"]: p["mode"] for p in body["platforms"]}
    assert platforms["linux/arm64/v8"] == "unavailable"
    assert "can_build" not in body
    assert [b["name"] for b in body["builders"]] == ["buildah", "podman", "docker"]


@pytest.mark.integration  # the CLI as a subprocess
def test_cli_doctor_rejects_an_unknown_platform_as_a_usage_error(cli: Cli) -> None:
    result = cli.run("doctor", "--platforms", "linux/amd64,linux/amr64")
    assert_one_line_error(result, 2, "linux/amr64")
