"""Each exchange's total time limit, enforced: socket timeouts bound each read, not the
whole exchange, so a server drip-feeding bytes could stretch one for ever. A timer per
exchange shuts its socket down when the limit runs out; the connections and the adapter
here let the timer find the socket urllib3 picked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests.adapters
import urllib3.connection
import urllib3.connectionpool

from manifestor.remote import early


class Exchange:
    """One exchange's total time limit: when it runs out, the socket the exchange uses is
    shut down, which ends any read or write blocked on it at once."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.expired = False
        self._lock = threading.Lock()
        self._connection: Any = None
        self._timer: threading.Timer | None = None
        if limit is not None:
            self._timer = threading.Timer(max(limit, 0.0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    @contextmanager
    def sending(self) -> Iterator[None]:
        """While the request is sent on this thread, the connection it gets is watched."""
        outer = getattr(_current, "exchange", None)
        _current.exchange = self
        try:
            yield
        finally:
            _current.exchange = outer

    def attach(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection
            if self.expired:
                _cut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._connection is not None:
                _cut(self._connection)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class RequestCut(Exception):
    """An exchange ran past its total limit and was cut; retried like a timeout."""


def _cut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # socket.socket's own shutdown, also for an SSLSocket: it ends a blocked read
        # without tearing down the SSL object under the reading thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


# The exchange each thread is sending, so the connection urllib3 picks can be attached.
_current = threading.local()


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        exchange = getattr(_current, "exchange", None)
        if exchange is not None:
            exchange.attach(self)
        super().request(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        # The socket early.py opened to this host while the command was starting, if any
        # (TLS, for an HTTPS connection, is set up on it next, as on a new one).
        sock = early.take(self.host, self.port)
        if sock is None:
            return super()._new_conn()
        timeout = self.timeout
        sock.settimeout(timeout if isinstance(timeout, (int, float)) else None)
        return sock


class _WatchedHTTPSConnection(_WatchedHTTPConnection, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(requests.adapters.HTTPAdapter):
    """Connections that a watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
