"""The first connection to each registry a command names, opened while the command is still
importing what it needs to talk to it.

A command spends most of its first 0.2 s importing requests, urllib3 and the workflow
before it can send anything; the TCP handshake with the registry (a round trip, more on a
distant registry) need not wait for that. `connect_early` starts it in a background thread
as soon as the command line is parsed; the first connection the transport opens to that
host and port takes the socket (watchdog.py) instead of connecting again, and TLS, when the
registry speaks it, is set up on it then as on any other socket.

Only plain TCP is opened here, so nothing depends on the scheme, the certificates or the
credentials, which are settled later. Nothing is opened when a proxy variable is set (the
proxy, not the registry, is what requests would connect to). A socket nobody takes is
closed at exit; a connect that fails is forgotten, and the transport's own attempt reports
the error. This module imports no more than socket and threading (and the pure model)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable

from manifestor.model.reference import is_loopback_host
from manifestor.remote.jobs import PER_HOST

log = logging.getLogger("manifestor.http")

CONNECT_TIMEOUT = 10.0
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


class _Opening:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.sock: socket.socket | None = None


_opening: dict[tuple[str, int], list[_Opening]] = {}
_lock = threading.Lock()


def connect_early(hosts: Iterable[str]) -> None:
    """Start TCP connections to the `host[:port]`s given (registries' API hosts) in the
    background: one per time a host is named, up to the per-host limit of requests at
    once (a command that reads eight sources from one registry reads four at a time).
    Without a port: 80 for a loopback host (tried first over plain HTTP), else 443."""
    if any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES):
        return
    for host in hosts:
        address = _address(host)
        if address is None:
            continue
        with _lock:
            openings = _opening.setdefault(address, [])
            if len(openings) >= PER_HOST:
                continue
            opening = _Opening()
            openings.append(opening)
        threading.Thread(
            target=_connect, args=(address, opening), name="manifestor-early", daemon=True
        ).start()


def take(host: str, port: int) -> socket.socket | None:
    """A socket opened early to `host`:`port`, each once; None when there is none left
    (or its connect failed). Waits for a connect still under way: it is the one the caller
    would otherwise make."""
    with _lock:
        openings = _opening.get((host.lower().strip("[]"), port))
        opening = openings.pop(0) if openings else None
    if opening is None or not opening.done.wait(CONNECT_TIMEOUT):
        return None
    if opening.sock is not None:
        log.debug("using the connection opened early to %s:%d", host, port)
    return opening.sock


def _connect(address: tuple[str, int], opening: _Opening) -> None:
    try:
        sock = socket.create_connection(address, CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3 does
        opening.sock = sock
    except OSError:
        pass  # the transport connects itself, and reports what goes wrong
    finally:
        opening.done.set()


def _address(host: str) -> tuple[str, int] | None:
    name, port = host.lower(), None
    if name.startswith("["):  # [IPv6]:port
        end = name.find("]")
        if end < 0:
            return None
        name, rest = name[1:end], name[end + 1 :]
        if rest.startswith(":"):
            port = rest[1:]
    elif name.count(":") == 1:
        name, port = name.split(":")
    elif ":" in name:
        return None
    if port is not None and not port.isdigit():
        return None
    if port is None:
        return name, 80 if is_loopback_host(name) else 443
    return name, int(port)
