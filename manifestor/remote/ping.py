"""Which scheme a registry host speaks, settled once per host by a first exchange. https is
tried first, plain HTTP first only for loopback hosts; plain HTTP is kept only for loopback
hosts or with --insecure, and a certificate problem is never answered by downgrading to
HTTP.

The exchange is the caller's: a ping (`GET /v2/`, `ping`), or the run's first real request
sent to the likely scheme (`guess`) and, when a registry answered it, `confirm`ed; the
client falls back to the ping when the reply leaves doubt."""

from __future__ import annotations

import threading
from collections.abc import Callable

from manifestor.errors import InsecureRegistryError, TLSError, TransportError
from manifestor.model.reference import is_loopback_host
from manifestor.remote.failures import is_cert_error
from manifestor.remote.response import HttpResponse


class Schemes:
    """The `scheme://host` settled for each registry host of one Transport."""

    def __init__(self, *, insecure: bool) -> None:
        self.insecure = insecure
        self._bases: dict[str, str] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    def base_url(self, host: str) -> str | None:
        """The scheme://host chosen for a registry host, once it is settled."""
        return self._bases.get(host)

    def guess(self, host: str) -> str:
        """The scheme://host `host` most likely speaks, before any exchange: the settled
        one, else the scheme the ping would try first."""
        return self._bases.get(host) or f"{_order(host)[0]}://{host}"

    def confirm(self, host: str, base: str) -> None:
        """A registry answered over `base` (a `guess`): settle on it, as a ping would."""
        with self._host_lock(host):
            if host not in self._bases:
                self._settle(host, base.partition("://")[0])

    def ping(self, host: str, send: Callable[[str], HttpResponse]) -> HttpResponse:
        """`send(base)` with `host`'s settled base URL (`scheme://host`), or, the first
        time, with each scheme's in turn until one answers as a registry would."""
        with self._host_lock(host):
            base = self._bases.get(host)
            if base is not None:
                return send(base)
            order = _order(host)
            first_error: TransportError | None = None
            # A plain-HTTP 400 that may come from a TLS port: kept in case HTTPS fails too.
            plain_400: HttpResponse | None = None
            for scheme in order:
                try:
                    response = send(f"{scheme}://{host}")
                except TLSError as exc:
                    if exc.__cause__ is not None and is_cert_error(exc.__cause__):
                        raise
                    first_error = first_error or exc
                    continue
                if scheme == "http" and _looks_like_tls_port(response):
                    continue
                if scheme == "http" and response.status == 400 and scheme == order[0]:
                    # No registry answers GET /v2/ with 400, but TLS servers other than
                    # Go's (nginx, Apache, HAProxy) answer plain HTTP that way, each in
                    # its own words: try HTTPS before taking this host for plain HTTP.
                    plain_400 = response
                    continue
                self._settle(host, scheme)
                return response
            if plain_400 is not None:
                self._settle(host, "http")
                return plain_400
            raise first_error or TransportError(
                f"cannot talk to registry {host} over HTTP or HTTPS"
            )

    def _settle(self, host: str, scheme: str) -> None:
        """Use `scheme` for `host` from now on; plain HTTP only where it is allowed."""
        if scheme == "http" and not (self.insecure or is_loopback_host(host)):
            raise InsecureRegistryError(
                f"registry {host} speaks plain HTTP, not HTTPS; pass --insecure to "
                "allow plain HTTP for it"
            )
        self._bases[host] = f"{scheme}://{host}"

    def _host_lock(self, host: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(host, threading.Lock())


def _order(host: str) -> tuple[str, str]:
    return ("http", "https") if is_loopback_host(host) else ("https", "http")


def _looks_like_tls_port(response: HttpResponse) -> bool:
    # Go's TLS server answers plain HTTP with this 400; try https on that port instead.
    return response.status == 400 and b"HTTP request to an HTTPS server" in response.body
