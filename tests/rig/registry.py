"""Run a real `docker-registry` (distribution 2.8) process on a free 127.0.0.1 port.

Kinds: `plain` HTTP, `tls` (certificate from a rig-made CA), `mtls` (the same, and it requires
a client certificate from that CA), `basic` (htpasswd, bcrypt) and
`token` (Bearer auth against a `TokenServer`). The process lives until `close()`.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Literal

import requests

from .pki import make_ca, make_client_cert, make_server_cert
from .tokenserver import TokenServer

REGISTRY_BIN = "/usr/bin/docker-registry"
RIG_ADMIN = "rig-admin"  # the rig's own user on `basic` registries (pushes, BlobMirror)
Kind = Literal["plain", "tls", "mtls", "basic", "token"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _htpasswd_line(user: str, password: str) -> str:
    try:
        import bcrypt
    except ImportError as exc:
        raise RuntimeError("bcrypt is not installed: pip install bcrypt==5.0.0") from exc
    # Cost 4 (the minimum) keeps the registry's per-request bcrypt check fast.
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


class RegistryProcess:
    """One docker-registry process; see `.host`, `.url`, `.root`, `.log_path`."""

    def __init__(
        self,
        kind: Kind = "plain",
        *,
        users: Mapping[str, str] | None = None,
        token_server: TokenServer | None = None,
        workdir: Path | None = None,
        start_timeout: float = 10.0,
    ):
        if not Path(REGISTRY_BIN).exists():
            raise RuntimeError("docker-registry is not installed: apt-get install docker-registry")
        if kind == "token" and token_server is None:
            raise ValueError("a token registry needs token_server=")
        self.kind: Kind = kind
        self.users: dict[str, str] = dict(users or {})
        self.token_server = token_server
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"rig-registry-{kind}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root = self.workdir / "storage"
        self.log_path = self.workdir / "registry.log"
        self.config_path = self.workdir / "config.yml"
        self.admin_credentials: tuple[str, str] | None = None
        self.ca_cert_path: Path | None = None
        self.ca_pem: bytes | None = None
        self.client_cert_pem: bytes | None = None  # mtls: a certificate the registry accepts
        self.client_key_pem: bytes | None = None
        self._auth_config = self._prepare_auth()
        self._tls_config = self._prepare_tls()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.port = 0
        self._start(start_timeout)

    @property
    def scheme(self) -> str:
        return "https" if self.kind in ("tls", "mtls") else "http"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def __repr__(self) -> str:
        return f"RegistryProcess({self.kind!r}, url={self.url!r})"

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log:
            self._log.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RegistryProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- setup --

    def _prepare_auth(self) -> dict:
        if self.kind == "basic":
            self.admin_credentials = (RIG_ADMIN, secrets.token_urlsafe(12))
            htpasswd = self.workdir / "htpasswd"
            entries = {**self.users, RIG_ADMIN: self.admin_credentials[1]}
            htpasswd.write_text("".join(_htpasswd_line(u, p) for u, p in entries.items()))
            return {"htpasswd": {"realm": "manifestor-rig", "path": str(htpasswd)}}
        if self.kind == "token":
            assert self.token_server is not None
            bundle = self.workdir / "token-signer.pem"
            bundle.write_bytes(self.token_server.cert_pem)
            token = {
                "realm": self.token_server.realm,
                "service": self.token_server.service,
                "issuer": self.token_server.issuer,
                "rootcertbundle": str(bundle),
            }
            return {"token": token}
        return {}

    def _prepare_tls(self) -> dict:
        if self.kind not in ("tls", "mtls"):
            return {}
        ca = make_ca()
        server = make_server_cert(ca, ("127.0.0.1", "localhost"))
        self.ca_pem = ca.cert_pem
        self.ca_cert_path = self.workdir / "ca.pem"
        self.ca_cert_path.write_bytes(ca.cert_pem)
        (self.workdir / "server.pem").write_bytes(server.cert_pem)
        (self.workdir / "server-key.pem").write_bytes(server.key_pem)
        tls: dict = {
            "certificate": str(self.workdir / "server.pem"),
            "key": str(self.workdir / "server-key.pem"),
        }
        if self.kind == "mtls":
            client = make_client_cert(ca)
            self.client_cert_pem, self.client_key_pem = client.cert_pem, client.key_pem
            tls["clientcas"] = [str(self.ca_cert_path)]
        return tls

    def _write_config(self) -> None:
        http: dict = {"addr": self.host, "secret": secrets.token_hex(16)}
        if self._tls_config:
            http["tls"] = self._tls_config
        config = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http,
        }
        if self._auth_config:
            config["auth"] = self._auth_config
        self.config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML

    def _start(self, timeout: float) -> None:
        for _attempt in range(3):  # a freed port can be grabbed by someone else before we bind
            self.port = free_port()
            self._write_config()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in close()
            self._process = subprocess.Popen(
                [REGISTRY_BIN, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready(timeout):
                return
            self._process.kill()
            self._process.wait()
            self._log.close()
            if "address already in use" not in self.log_tail():
                break
        raise RuntimeError(
            f"docker-registry ({self.kind}) did not answer {self.url}/v2/ within {timeout:.0f}s;"
            f" log {self.log_path}:\n{self.log_tail()}"
        )

    def _wait_ready(self, timeout: float) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        with requests.Session() as session:
            session.trust_env = False
            session.verify = str(self.ca_cert_path) if self.ca_cert_path else True
            if self.client_cert_pem and self.client_key_pem:
                (self.workdir / "client.pem").write_bytes(self.client_cert_pem)
                (self.workdir / "client-key.pem").write_bytes(self.client_key_pem)
                session.cert = (
                    str(self.workdir / "client.pem"),
                    str(self.workdir / "client-key.pem"),
                )
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    session.get(f"{self.url}/v2/", timeout=1)
                    return True
                except requests.RequestException:
                    time.sleep(0.02)
        return False
