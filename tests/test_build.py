"""`build` against real tools: buildah (chroot isolation, its own store), QEMU through
binfmt_misc, and a real docker-registry holding an offline busybox base for three
platforms. Each test checks what ended up in the registry, not what manifestor says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from buildhelpers import (
    UNAME,
    image_config,
    push_busybox_base,
    read_file_from_image,
    require_build_host,
    write_context,
)
from clihelpers import DIGEST, Cli, CliResult, assert_one_line_error
from rig.images import RigClient
from rig.registry import RegistryProcess

from manifestor.errors import BuildFailedError, CannotBuildError
from manifestor.local.binfmt import BinfmtState
from manifestor.local.builders import BuilderStatus
from manifestor.model.platform import parse_platform
from manifestor.model.reference import parse_reference
from manifestor.ops.build import BuildEvent, BuildOptions, build_and_publish
from manifestor.ops.doctor import HostFacts, run_doctor
from manifestor.ops.release import ReleaseOptions
from manifestor.ops.verify import verify_list
from manifestor.remote.client import RegistryClient

PLATFORMS = tuple(parse_platform(p) for p in UNAME)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base(registry_plain: RegistryProcess) -> str:
    require_build_host()
    return push_busybox_base(registry_plain)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("buildah-store")


def _options(context: Path, store: Path, **extra: object) -> BuildOptions:
    return BuildOptions(PLATFORMS, context, store=store, timestamp=0, **extra)  # type: ignore[arg-type]


def test_build_three_platforms_under_qemu_and_publish_checked_list(
    registry_plain: RegistryProcess, base: str, store: Path, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", base, "RUN uname -m > /arch.txt")
    target = parse_reference(f"{registry_plain.host}/build/app:1")
    events: list[BuildEvent] = []
    with RegistryClient() as client:
        result = build_and_publish(
            client, target, _options(context, store), ReleaseOptions(), on_event=events.append
        )
        report = verify_list(client, target, expected=PLATFORMS)
    assert result.builder == "buildah"
    assert result.pushed is not None and not result.pushed.unchanged
    assert report.ok, report.to_json()
    assert sorted((str(e.platform), e.state) for e in events if e.state == "built") == sorted(
        (p, "built") for p in UNAME
    )
    with RigClient(registry_plain) as rig:
        assert rig.list_tags("build/app") == ["1"]  # no per-arch tags
        listed = rig.get_manifest("build/app", "1")
        assert listed.headers["Docker-Content-Digest"] == result.pushed.digest
        entries = listed.json()["manifests"]
        assert len(entries) == 3
        for entry, platform in zip(entries, UNAME, strict=True):
            claimed = entry["platform"]
            config = image_config(rig, "build/app", entry["digest"])
            assert config["os"] == claimed["os"]
            assert config["architecture"] == claimed["architecture"]
            assert str(parse_platform(platform)) == "/".join(
                filter(None, (claimed["os"], claimed["architecture"], claimed.get("variant")))
            )
            # Written by a RUN step that ran under QEMU for the foreign platforms.
            uname = read_file_from_image(rig, "build/app", entry["digest"], "arch.txt")
            assert uname == UNAME[platform] + "\n"


def test_identical_rebuild_is_unchanged(
    registry_plain: RegistryProcess, base: str, store: Path, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", base, "RUN uname -m > /arch.txt")
    target = parse_reference(f"{registry_plain.host}/build/rerun:1")
    with RegistryClient() as client:
        first = build_and_publish(client, target, _options(context, store), ReleaseOptions())
        again = build_and_publish(client, target, _options(context, store), ReleaseOptions())
    assert first.pushed is not None and again.pushed is not None
    assert not first.pushed.unchanged
    assert again.pushed.unchanged
    assert again.pushed.digest == first.pushed.digest


def test_failure_on_one_platform_publishes_nothing_and_keeps_its_log(
    registry_plain: RegistryProcess, base: str, store: Path, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx", base, 'RUN test "$(uname -m)" != armv7l || (echo no arm here; exit 3)'
    )
    target = parse_reference(f"{registry_plain.host}/build/broken:1")
    with RegistryClient() as client, pytest.raises(BuildFailedError) as failure:
        build_and_publish(client, target, _options(context, store, jobs=1), ReleaseOptions())
    message = str(failure.value)
    assert "linux/arm/v7" in message and "nothing was published" in message
    (log,) = failure.value.logs
    assert str(log) in message
    assert "no arm here" in log.read_text()
    assert "no arm here" in message  # the last lines of the log are part of the error
    # Only the failed platform's log is left of the work directory.
    assert sorted(p.name for p in log.parent.iterdir()) == [log.name]
    with RigClient(registry_plain) as rig:
        assert rig.list_tags("build/broken") == []
        assert rig.get_manifest("build/broken", "1").status_code == 404


def test_platform_without_handler_fails_before_building_naming_the_fix(
    registry_plain: RegistryProcess, tmp_path: Path
) -> None:
    (tmp_path / "binfmt").mkdir()
    (tmp_path / "binfmt" / "status").write_text("enabled\n")
    buildah = BuilderStatus("buildah", "/usr/bin/buildah", "1.28", usable=True)
    report = run_doctor(
        PLATFORMS,
        HostFacts(binfmt_dir=tmp_path / "binfmt", machine="x86_64"),
        builders=[buildah],
    )
    assert isinstance(report.binfmt, BinfmtState) and report.binfmt.handlers == ()
    context = write_context(tmp_path / "ctx", "scratch")
    events: list[BuildEvent] = []
    target = parse_reference(f"{registry_plain.host}/build/never:1")
    with RegistryClient() as client, pytest.raises(CannotBuildError) as refused:
        build_and_publish(
            client,
            target,
            BuildOptions(PLATFORMS, context),
            ReleaseOptions(),
            report=report,
            on_event=events.append,
        )
    message = str(refused.value)
    assert "update-binfmts --enable qemu-aarch64" in message
    assert "update-binfmts --enable qemu-arm" in message
    assert "linux/amd64" not in message
    assert events == []


# -- the command line ------------------------------------------------------------------


def _cli_build(cli: Cli, *args: str) -> CliResult:
    return cli.run("build", *args, timeout=300)


@pytest.fixture
def cli_store(store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MANIFESTOR_BUILD_STORE", str(store))
    return store


def test_cli_build_publishes_proves_and_reruns_unchanged(
    cli: Cli, registry_plain: RegistryProcess, base: str, cli_store: Path, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", base, "RUN uname -m > /arch.txt")
    target = f"{registry_plain.host}/build/cli:1.0"
    digest_file = tmp_path / "digest"
    args = (target, str(context), "--platforms", ",".join(UNAME), "--timestamp", "0")
    first = _cli_build(cli, *args, "--tag", "latest", "--digest-file", str(digest_file))
    assert first.returncode == 0, str(first)
    digest = first.stdout_lines[-1]
    assert DIGEST.match(digest) and digest_file.read_text() == digest + "\n"
    for platform in UNAME:
        assert f"building {platform} (log: " in first.stderr
        assert re.search(rf"^built {re.escape(platform)} in \d+\.\ds$", first.stderr, re.M)
    with RigClient(registry_plain) as rig:
        assert rig.list_tags("build/cli") == ["1.0", "latest"]
    proof = cli.ok("verify", target, "--platforms", ",".join(UNAME))
    assert "verified: ok" in proof.stdout
    again = _cli_build(cli, *args, "--tag", "latest", "--json")
    assert again.returncode == 0, str(again)
    summary = again.json()
    assert summary["digest"] == digest and summary["status"] == "unchanged"
    assert [p["platform"] for p in summary["platforms"]] == list(UNAME)
    assert f"unchanged: {target}" in again.stderr


def test_cli_build_failure_is_one_error_line_naming_the_kept_log(
    cli: Cli, registry_plain: RegistryProcess, base: str, cli_store: Path, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx", base, "RUN echo arm64 says no; test $(uname -m) != aarch64"
    )
    target = f"{registry_plain.host}/build/cli-broken:1"
    result = _cli_build(cli, target, str(context), "--platforms", ",".join(UNAME), "-q")
    message = assert_one_line_error(
        result, 1, "building linux/arm64/v8 failed", "nothing was published"
    )
    log = Path(re.search(r"log kept in (\S+?);", message).group(1))  # type: ignore[union-attr]
    assert log.is_file() and "arm64 says no" in log.read_text()
    assert "arm64 says no" in message
    with RigClient(registry_plain) as rig:
        assert rig.list_tags("build/cli-broken") == []


def test_cli_build_dry_run_builds_but_writes_nothing(
    cli: Cli, registry_plain: RegistryProcess, base: str, cli_store: Path, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", base)
    target = f"{registry_plain.host}/build/cli-dry:1"
    result = _cli_build(
        cli, target, str(context), "--platforms", "linux/amd64,linux/arm/v7", "--dry-run"
    )
    assert result.returncode == 0, str(result)
    listed = result.json()
    assert [m["platform"]["architecture"] for m in listed["manifests"]] == ["amd64", "arm"]
    assert f"plan: put    {target}" in result.stderr
    with RigClient(registry_plain) as rig:
        assert rig.list_tags("build/cli-dry") == []


def test_cli_build_usage_and_builder_errors(
    cli: Cli, registry_plain: RegistryProcess, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", "scratch")
    target = f"{registry_plain.host}/build/cli-usage:1"
    assert_one_line_error(_cli_build(cli, target, str(context)), 2, "--platforms")
    assert_one_line_error(
        _cli_build(
            cli, target, str(context), "--platforms", "linux/amd64", "--build-arg", "NOEQUALS"
        ),
        2,
        "--build-arg wants KEY=VALUE",
    )
    assert_one_line_error(
        _cli_build(cli, target, str(tmp_path / "nowhere"), "--platforms", "linux/amd64"),
        2,
        "is not a directory",
    )
    # No daemon here: docker cannot build, and that is said before anything runs.
    assert_one_line_error(
        _cli_build(cli, target, str(context), "--platforms", "linux/amd64", "--builder", "docker"),
        1,
        "no builder can build here: docker:",
    )
