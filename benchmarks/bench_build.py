"""Wall time of a 3-platform build and publish: `manifestor build` against podman's own
multi-platform build, `podman build --platform ... --manifest NAME` followed by
`podman manifest push --all`, for the same Containerfile.

Usage:  .venv/bin/python benchmarks/bench_build.py [--runs 3] [--warmup 1]

Starts its own docker-registry (the test rig's RegistryProcess, plain HTTP on loopback)
and pushes an offline busybox base (Debian's busybox-static) for linux/amd64,
linux/arm64/v8 and linux/arm/v7. The Containerfile is FROM that base with two RUN steps,
so arm64 and arm/v7 run under QEMU. Each tool has its own store in a temporary directory,
builds with chroot isolation and without a layer cache (buildah --layers=false inside
manifestor; podman --no-cache, since its cache ignores --platform), and pushes to a fresh
tag per run. Runs alternate between the tools. Needs root, buildah, podman and the QEMU
handlers (scripts/setup.sh); installs nothing. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from buildhelpers import push_busybox_base  # noqa: E402
from rig.images import RigClient  # noqa: E402
from rig.registry import RegistryProcess  # noqa: E402

PLATFORMS = "linux/amd64,linux/arm64/v8,linux/arm/v7"
REPO = "bench/app"


def environment(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["DOCKER_CONFIG"] = str(config)
    env["NO_PROXY"] = "*"
    return env


def timed(commands: list[list[str]], env: dict[str, str]) -> float:
    started = time.monotonic()
    for command in commands:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def entries(client: RigClient, tag: str) -> str:
    listed = client.get_manifest(REPO, tag).json()
    platforms = [
        "/".join(
            filter(
                None,
                (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")),
            )
        )
        for m in listed["manifests"]
    ]
    return f"{listed['mediaType'].rsplit('.', 2)[-2]}: {', '.join(platforms)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    for tool in ("buildah", "podman", "docker-registry"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed; run scripts/setup.sh")
    manifestor = [sys.executable, "-m", "manifestor"]
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    podman_store = [
        "--root",
        str(work / "podman" / "root"),
        "--runroot",
        str(work / "podman" / "run"),
    ]
    try:
        with (
            RegistryProcess("plain", workdir=work / "registry") as registry,
            RigClient(registry) as client,
        ):
            base = push_busybox_base(registry)
            context = work / "context"
            context.mkdir()
            (context / "Containerfile").write_text(
                f"FROM {base}\n"
                'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                "RUN uname -m > /arch.txt\n"
            )
            env = environment(work / "docker")
            env["MANIFESTOR_BUILD_STORE"] = str(work / "buildah")
            times: dict[str, list[float]] = {"manifestor build": [], "podman build + push": []}
            published: dict[str, str] = {}
            for i in range(args.warmup + args.runs):
                tag = f"mf-{i}"
                build = [
                    *manifestor,
                    "build",
                    f"{registry.host}/{REPO}:{tag}",
                    str(context),
                    "--platforms",
                    PLATFORMS,
                    "--quiet",
                ]
                took_mf = timed([build], env)
                published["manifestor build"] = entries(client, tag)
                name = f"bench-list-{i}"
                podman = [
                    [
                        "podman",
                        *podman_store,
                        "build",
                        "--isolation",
                        "chroot",
                        "--no-cache",
                        "--tls-verify=false",
                        "--platform",
                        PLATFORMS,
                        "--manifest",
                        name,
                        str(context),
                    ],
                    [
                        "podman",
                        *podman_store,
                        "manifest",
                        "push",
                        "--all",
                        "--tls-verify=false",
                        name,
                        f"docker://{registry.host}/{REPO}:pd-{i}",
                    ],
                ]
                # podman stats the auth file DOCKER_CONFIG names, and fails when it is absent.
                took_pd = timed(podman, {k: v for k, v in env.items() if k != "DOCKER_CONFIG"})
                published["podman build + push"] = entries(client, f"pd-{i}")
                subprocess.run(
                    ["podman", *podman_store, "manifest", "rm", name],
                    capture_output=True,
                    check=False,
                )
                subprocess.run(
                    ["podman", *podman_store, "image", "prune", "-af"],
                    capture_output=True,
                    check=False,
                )
                kind = "warmup" if i < args.warmup else "run"
                print(
                    f"{kind} {i}: manifestor build {took_mf:.2f}s, "
                    f"podman build + manifest push {took_pd:.2f}s",
                    flush=True,
                )
                if i >= args.warmup:
                    times["manifestor build"].append(took_mf)
                    times["podman build + push"].append(took_pd)
            print(f"\n3 platforms ({PLATFORMS}), {args.runs} runs, {os.cpu_count()} CPUs")
            for row, values in times.items():
                spread = ", ".join(f"{v:.2f}" for v in values)
                print(f"  {row:<22} median {statistics.median(values):6.2f}s  ({spread})")
                print(f"  {'':<22} published {published[row]}")
    finally:
        subprocess.run(["podman", *podman_store, "rmi", "-af"], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
