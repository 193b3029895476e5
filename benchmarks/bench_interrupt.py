"""Ctrl-C during a large cross-registry copy: how long until manifestor exits, and what it
leaves behind in the target registry (issue 8: "Ctrl-C during a 1 GiB copy exits within
1 s and leaves no upload session open").

Usage:  .venv/bin/python benchmarks/bench_interrupt.py [--size-mib 1024] [--runs 3] [--after 1.5]

Starts two docker-registry processes on loopback, pushes one amd64 image whose layer is
--size-mib of random bytes into the first, then runs `manifestor push` of it into the
second (so every byte is streamed across) --runs times. Each run waits until the target
registry has an upload session open, lets the copy go on for --after seconds, sends SIGINT,
and records: the seconds from SIGINT to exit, the exit status and last stderr line, the
upload sessions the target could still resume (`_uploads/*/startedat` in its storage) and
whether the tag exists. It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_copy_memory import push_big_image  # noqa: E402
from rig.registry import RegistryProcess  # noqa: E402

MIB = 1024 * 1024


def open_sessions(registry: RegistryProcess, repo: str) -> int:
    return len(
        list(registry.root.glob(f"docker/registry/v2/repositories/{repo}/_uploads/*/startedat"))
    )


def one_run(source: RegistryProcess, target: RegistryProcess, n: int, after: float, work: Path):
    repo = f"bench/interrupt{n}"
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(work / f"docker{n}"),
        "MANIFESTOR_CACHE_DIR": "off",
        "NO_PROXY": "*",
    }
    command = [
        sys.executable, "-m", "manifestor", "push",
        f"{target.host}/{repo}:1", f"{source.host}/bench/big:1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not open_sessions(target, repo) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(after)
    if proc.poll() is not None:
        return None  # the copy finished before the interrupt: use a larger --size-mib
    pressed = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - pressed
    tag = target.root / f"docker/registry/v2/repositories/{repo}/_manifests/tags/1"
    last = err.decode().strip().splitlines()[-1] if err.strip() else ""
    return took, proc.returncode, last, open_sessions(target, repo), tag.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--after", type=float, default=1.5, help="seconds of copying first")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}, {os.cpu_count()} CPUs,")
    load = os.getloadavg()[0]
    print(f"# load {load:.2f}; layer {args.size_mib} MiB, interrupt after {args.after} s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            RegistryProcess("plain", workdir=work / "src") as source,
            RegistryProcess("plain", workdir=work / "dst") as target,
        ):
            push_big_image(source, "bench/big", "1", args.size_mib * MIB, work)
            print(f"{'run':>3} {'exit after SIGINT':>18} {'status':>6} {'sessions left':>13} "
                  f"{'tag written':>11}  last stderr line")  # fmt: skip
            for n in range(args.runs):
                result = one_run(source, target, n, args.after, work)
                if result is None:
                    print(f"{n:>3} the copy ended before the interrupt; use a larger --size-mib")
                    continue
                took, status, last, sessions, tag = result
                print(f"{n:>3} {took:>16.2f} s {status:>6} {sessions:>13} {str(tag):>11}  {last}")


if __name__ == "__main__":
    main()
