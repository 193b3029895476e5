"""Peak memory of a cross-registry copy: does `manifestor push` stream a big layer?

Usage:  .venv/bin/python benchmarks/bench_copy_memory.py [--size-mib 256] [--baseline-mib 1]

Starts two docker-registry processes (the test rig's RegistryProcess, plain HTTP on
loopback). Into the first it pushes an image whose single layer is a random, so
incompressible, blob of --size-mib MiB: the blob is written to a temp file and uploaded
from there with manifestor's own RegistryClient.upload_blob(BodySource(...)) of the file, so
this process never holds it in memory either. Then it runs, as a subprocess,

    manifestor push <second>/bench/app:1 <first>/bench/app:big=linux/amd64

which must stream the layer from one registry to the other, and measures that process's
peak RSS (os.wait4's rusage for exactly that child), its wall time and the throughput. It
reads the copied blob back from the second registry, hashing it as it streams, and checks
the digest. The same is done first with a --baseline-mib blob (default 1 MiB) to show what
the interpreter and imports cost alone; the claim is that peak RSS stays far below the
blob size and does not grow with it.

It installs nothing and asserts nothing about time; it exits 1 if a copy is wrong.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from rig.images import OCI_CONFIG, OCI_MANIFEST, Blob, RigClient  # noqa: E402
from rig.registry import REGISTRY_BIN, RegistryProcess  # noqa: E402

from manifestor import __version__  # noqa: E402
from manifestor.model.body import BodySource  # noqa: E402
from manifestor.model.reference import parse_reference  # noqa: E402
from manifestor.remote.client import RegistryClient  # noqa: E402

MIB = 1024 * 1024
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class Measurement:
    label: str
    blob_bytes: int
    peak_rss_bytes: int
    seconds: float
    list_digest: str

    @property
    def ratio(self) -> float:
        return self.peak_rss_bytes / self.blob_bytes

    @property
    def mib_per_s(self) -> float:
        return self.blob_bytes / MIB / self.seconds


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path` one MiB at a time; returns the digest."""
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(MIB, left))
            hasher.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return "sha256:" + hasher.hexdigest()


def push_big_image(registry: RegistryProcess, repo: str, tag: str, size: int, work: Path) -> str:
    """An amd64 image whose one layer is `size` random bytes; returns the layer digest."""
    layer_path = work / f"{tag}.layer"
    digest = random_file(layer_path, size)
    with RegistryClient() as client:  # streams the file: constant memory here too
        body = BodySource(lambda: layer_path.open("rb"), layer_path.stat().st_size)
        client.upload_blob(parse_reference(f"{registry.host}/{repo}:{tag}"), digest, body)
    layer_path.unlink()
    config = Blob.of(
        OCI_CONFIG,
        json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode(),
    )
    manifest = Blob.of(
        OCI_MANIFEST,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [{"mediaType": LAYER_TYPE, "digest": digest, "size": size}],
            }
        ).encode(),
    )
    with RigClient(registry) as rig:
        rig.push_blob(repo, config)
        rig.put_manifest(repo, tag, manifest)
    return digest


def run_measured(args: list[str], env: dict[str, str], work: Path) -> tuple[int, int, float, str]:
    """Run `args`; returns (exit status, peak RSS in bytes, wall seconds, stdout)."""
    out_path, err_path = work / "stdout", work / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage of exactly this child
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(err_path.read_text())
    return proc.returncode, usage.ru_maxrss * 1024, seconds, out_path.read_text()  # KiB on Linux


def streamed_digest(registry: RegistryProcess, repo: str, digest: str) -> str:
    """Hash the blob as the second registry serves it, one MiB at a time."""
    hasher = hashlib.sha256()
    with RigClient(registry) as rig:
        response = rig.session.get(rig.url(f"/v2/{repo}/blobs/{digest}"), stream=True)
        response.raise_for_status()
        for chunk in response.iter_content(MIB):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def measure(
    label: str,
    size: int,
    source: RegistryProcess,
    target: RegistryProcess,
    env: dict[str, str],
    work: Path,
) -> Measurement:
    repo = f"bench/{label}"
    layer = push_big_image(source, repo, "big", size, work)
    args = [
        sys.executable,
        "-m",
        "manifestor",
        "push",
        f"{target.host}/{repo}:1",
        f"{source.host}/{repo}:big=linux/amd64",
    ]
    status, rss, seconds, stdout = run_measured(args, env, work)
    if status != 0:
        raise SystemExit(f"manifestor push failed with exit {status}")
    copied = streamed_digest(target, repo, layer)
    if copied != layer:
        raise SystemExit(f"the copied blob hashes to {copied}, not {layer}")
    with RigClient(target) as rig:
        served = rig.get_manifest(repo, "1").headers.get("Docker-Content-Digest", "")
    printed = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if served != printed:
        raise SystemExit(f"manifestor printed {printed!r}, the registry serves {served!r}")
    return Measurement(label, size, rss, seconds, printed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="layer size (default 256)")
    parser.add_argument(
        "--baseline-mib",
        type=int,
        default=1,
        help="a first, small copy for the fixed cost (default 1; 0 skips it)",
    )
    options = parser.parse_args()
    if not Path(REGISTRY_BIN).exists():
        raise SystemExit(f"{REGISTRY_BIN} is missing: run scripts/setup.sh first")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("DOCKER_AUTH_CONFIG", None)
    env["NO_PROXY"] = "*"
    with tempfile.TemporaryDirectory(prefix="bench-copy-memory-") as tmp:
        work = Path(tmp)
        env["DOCKER_CONFIG"] = str(work / "docker-config")
        os.environ["DOCKER_CONFIG"] = env["DOCKER_CONFIG"]  # for this process's own client
        with (
            RegistryProcess("plain", workdir=work / "registry-a") as first,
            RegistryProcess("plain", workdir=work / "registry-b") as second,
        ):
            sizes = [("base", options.baseline_mib)] if options.baseline_mib else []
            sizes.append(("app", options.size_mib))
            results = [measure(label, mib * MIB, first, second, env, work) for label, mib in sizes]
    print(
        f"manifestor {__version__} (python {platform.python_version()}), "
        f"{os.cpu_count()} CPUs; registry {first.host} -> registry {second.host}, "
        "one random (incompressible) layer streamed across; digest verified on the target"
    )
    print()
    print(f"{'blob':>10}  {'peak RSS':>10}  {'RSS/blob':>9}  {'wall s':>7}  {'MiB/s':>7}")
    for r in results:
        print(
            f"{r.blob_bytes / MIB:>6.0f} MiB  {r.peak_rss_bytes / MIB:>6.1f} MiB  "
            f"{r.ratio:>8.3f}x  {r.seconds:>7.2f}  {r.mib_per_s:>7.1f}"
        )
    if len(results) == 2:
        base, big = results
        grown = (big.peak_rss_bytes - base.peak_rss_bytes) / MIB
        print()
        print(
            f"peak RSS for a {big.blob_bytes / MIB:.0f} MiB blob vs a "
            f"{base.blob_bytes / MIB:.0f} MiB one: {grown:+.1f} MiB"
        )
    print("wall time includes interpreter start-up; the throughput is blob size / wall time")


if __name__ == "__main__":
    main()
