"""Which TLS a registry host gets: the system roots plus the CAs and client certificates
in its `<host:port>` folder of a certs.d directory (docker's, then the containers tools'),
built into one SSLContext per host."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path

from manifestor.errors import TLSError

DEFAULT_CERTS_DIR = Path("/etc/docker/certs.d")
CONTAINERS_CERTS_DIR = Path("/etc/containers/certs.d")


def default_certs_dirs(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Where per-registry TLS files are looked for: docker's certs.d, then the containers
    tools' (podman, buildah, skopeo) system-wide and per-user ones."""
    env = os.environ if environ is None else environ
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return (DEFAULT_CERTS_DIR, CONTAINERS_CERTS_DIR, home / ".config" / "containers" / "certs.d")


def host_certs_dir(certs_dirs: Sequence[Path], netloc: str) -> Path:
    """The folder with `netloc`'s TLS files: the first certs.d that has one."""
    for directory in certs_dirs:
        if (directory / netloc).is_dir():
            return directory / netloc
    # Messages point here for a host with no folder anywhere yet.
    return (certs_dirs[0] if certs_dirs else DEFAULT_CERTS_DIR) / netloc


def ssl_context(host_dir: Path, *, verify: bool) -> ssl.SSLContext:
    """System roots plus `host_dir`'s files: `*.crt` are CAs, each `x.cert` is a client
    certificate whose key is `x.key`; a half pair is refused rather than ignored."""
    context = ssl.create_default_context()
    if host_dir.is_dir():
        for ca in sorted(host_dir.glob("*.crt")):
            try:
                context.load_verify_locations(cafile=str(ca))
            except (OSError, ssl.SSLError) as exc:
                raise TLSError(f"cannot load CA certificate {ca}: {exc}") from None
        for cert in sorted(host_dir.glob("*.cert")):
            key = cert.with_suffix(".key")
            if not key.exists():
                raise TLSError(
                    f"client certificate {cert} has no matching key {key.name} "
                    "(CA certificates must use the extension .crt)"
                )
            try:
                context.load_cert_chain(str(cert), str(key))
            except (OSError, ssl.SSLError) as exc:
                raise TLSError(f"cannot load client certificate {cert}: {exc}") from None
        for key in sorted(host_dir.glob("*.key")):
            if not key.with_suffix(".cert").exists():
                raise TLSError(f"client key {key} has no matching certificate")
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
