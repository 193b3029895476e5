"""The HTTP layer under every registry call: the Transport sends one logical request.

One requests.Session per invocation, so connections are reused (session.py). Per host:
TLS with system roots plus `certs.d/<host:port>/` CAs and client certs (tls.py); https or
plain HTTP settled by a ping, plain HTTP only for loopback hosts or with `insecure`
(ping.py). Every request goes through bounded retries (retry.py: connection errors, 408,
425, 429, 5xx, honouring Retry-After) and follows redirects by hand, here, so an
Authorization header never reaches another host and https is never downgraded. Bodies are
re-created for each attempt, never re-sent from a consumed stream. The debug trace (logger
`manifestor.http`) never shows a secret (redact.py).

Time is bounded three ways: each exchange has a total limit (watchdog.py cuts its socket,
so a server drip-feeding bytes cannot stretch it), the retries of one request share a
budget (a Retry-After that does not fit fails at once), and the whole run may have a
Deadline (`--timeout`, deadline.py). Only idempotent requests are retried here; uploads
are retried as a unit by the client. A reply is an HttpResponse (response.py); a request
that got none is a typed error (failures.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3

from manifestor import __version__
from manifestor.errors import DeadlineError, MalformedResponseError, RedirectRefusedError
from manifestor.model.body import BodySource
from manifestor.remote.deadline import Deadline
from manifestor.remote.failures import transport_error
from manifestor.remote.ping import Schemes
from manifestor.remote.redact import redact_url, trace_headers, trace_response_headers
from manifestor.remote.response import HttpResponse, read_capped
from manifestor.remote.retry import (
    IDEMPOTENT_METHODS,
    GiveUp,
    RetryableStatus,
    RetryPolicy,
    is_retryable,
    retryable_reply,
    retrying,
)
from manifestor.remote.session import ContextAdapter, HeaderAuth, Session
from manifestor.remote.tls import default_certs_dirs, host_certs_dir, ssl_context
from manifestor.remote.urls import authority, join_url
from manifestor.remote.watchdog import Exchange, RequestCut, WatchedAdapter

log = logging.getLogger("manifestor.http")

MAX_REDIRECTS = 5
# A body of N bytes may take request_limit + N / MIN_RATE seconds: 64 KiB/s is slow
# enough for any working link and fast enough to end a drip-feed.
MIN_RATE = 64 * 1024
# Error, token and ping bodies are small; anything bigger is read only this far.
SMALL_BODY_LIMIT = 1024 * 1024


class _SizedIterable:
    """An iterator body with a length, so requests sends Content-Length, not chunked."""

    def __init__(self, chunks: Iterable[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def __len__(self) -> int:
        return self._size


class Transport:
    """Sends requests to registries and token servers; see the module docstring."""

    def __init__(
        self,
        *,
        insecure: bool = False,
        certs_dir: str | Path | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        certs_dirs: Sequence[str | Path] | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """`certs_dir` (--certs-dir) is the only certs.d directory when given; otherwise
        `certs_dirs`, by default `default_certs_dirs()`. For a host, the first directory
        that has a `<host:port>` folder supplies its files, as in the containers tools."""
        self.insecure = insecure
        if certs_dir is not None:
            self.certs_dirs: tuple[Path, ...] = (Path(certs_dir),)
        elif certs_dirs is not None:
            self.certs_dirs = tuple(Path(d) for d in certs_dirs)
        else:
            self.certs_dirs = default_certs_dirs()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.deadline = deadline
        self._sleep = sleep
        if insecure:
            # The user asked to skip verification; a warning per request would be noise.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._session = Session()
        self._session.headers["User-Agent"] = f"manifestor/{__version__}"
        self._mounted: set[str] = set()
        # --insecure is for the registries this invocation talks to, not for token
        # servers or blob storage they send us to.
        self._insecure_hosts: set[str] = set()
        self._schemes = Schemes(insecure=insecure)
        self._preconnected: set[str] = set()
        self._lock = threading.Lock()
        for scheme in ("http://", "https://"):
            self._session.mount(scheme, WatchedAdapter(pool_maxsize=8))

    def close(self) -> None:
        self._session.close()

    # -- scheme and TLS per host --------------------------------------------------------

    def base_url(self, host: str) -> str | None:
        """The scheme://host chosen for a registry host, once `ping` has settled it."""
        return self._schemes.base_url(host)

    def ping(self, host: str) -> HttpResponse:
        """`GET /v2/` on a registry host, choosing https or plain HTTP on the way (see
        ping.py): plain HTTP only for loopback hosts or with `insecure`."""
        self._note_registry(host)
        return self._schemes.ping(host, lambda base: self.request("GET", f"{base}/v2/"))

    def guess_base(self, host: str) -> str:
        """The scheme://host a registry host most likely speaks, to send a first real
        request to without a ping; `confirm_base` it once a registry answered there."""
        self._note_registry(host)
        return self._schemes.guess(host)

    def confirm_base(self, host: str, base: str) -> None:
        self._schemes.confirm(host, base)

    def preconnect(self, base: str, count: int, *, ready: int = 0) -> None:
        """Open `count` connections to `base` (scheme://host) at once, in the background,
        for requests about to follow: the reads after a run's first request, up to the
        per-host limit at once, need not each wait for TCP and TLS. Return once `ready` of
        them are open, so the requests about to be sent take those rather than opening
        more. Only once per base; not through a proxy. Best effort: a connection that
        fails to open is left to the request that needs it, which then reports the
        error."""
        with self._lock:
            if count <= 0 or base in self._preconnected:
                return
            self._preconnected.add(base)
        url = f"{base}/v2/"
        if self._session.proxies_for(url):
            return
        self._ensure_adapter(url)
        try:
            adapter = self._session.get_adapter(url)
            assert isinstance(adapter, requests.adapters.HTTPAdapter)
            request = requests.Request("GET", url).prepare()
            # The pool requests itself picks for this URL, so the requests find them.
            pool: Any = adapter.get_connection_with_tls_context(
                request, not self._skips_verification(url), proxies={}
            )
            # urllib3 has no public way to open a connection ahead of a request: take
            # `count` slots now (each a new, unconnected connection), connect them in the
            # background, and give each back as a request would after its reply.
            connections = [pool._get_conn() for _ in range(count)]
        except Exception as exc:  # noqa: BLE001 - best effort: the request will tell
            log.debug("no early connections to %s: %s", redact_url(url), exc)
            return
        opened = threading.Semaphore(0)
        for connection in connections:
            threading.Thread(
                target=self._open_connection,
                args=(pool, connection, url, opened),
                name="manifestor-connect",
                daemon=True,
            ).start()
        deadline = time.monotonic() + self.timeout[0]
        for _ in range(ready):
            if not opened.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break

    def _open_connection(
        self, pool: Any, connection: Any, url: str, opened: threading.Semaphore
    ) -> None:
        try:
            if connection.sock is None:
                connection.timeout = self.timeout[0]
                connection.connect()
        except Exception as exc:  # noqa: BLE001 - best effort: the request will tell
            log.debug("no early connection to %s: %s", redact_url(url), exc)
            connection.close()
        pool._put_conn(connection)
        opened.release()

    def _note_registry(self, host: str) -> None:
        if self.insecure:
            with self._lock:
                self._insecure_hosts.add(host.lower())

    def _ensure_adapter(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https":
            return
        netloc = parts.netloc.lower()
        with self._lock:
            if netloc in self._mounted:
                return
            context = ssl_context(
                host_certs_dir(self.certs_dirs, netloc), verify=netloc not in self._insecure_hosts
            )
            adapter = ContextAdapter(context, pool_maxsize=8)
            self._session.mount(f"https://{netloc}/", adapter)
            self._mounted.add(netloc)

    def _skips_verification(self, url: str) -> bool:
        return urlsplit(url).netloc.lower() in self._insecure_hosts

    # -- requests -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        authorization: str | None = None,
        body: BodySource | None = None,
        stream: bool = False,
        read_limit: int = SMALL_BODY_LIMIT,
        truncate: bool = True,
        retry: bool | None = None,
        timeout: tuple[float, float] | None = None,
        expected_bytes: int | None = None,
    ) -> HttpResponse:
        """Send one logical request (with retries and redirects) and return the reply.

        `authorization` is sent only to the authority of `url`. `retry` defaults to
        retrying idempotent methods only. Retryable statuses that persist past the last
        attempt are returned, not raised; connection failures are raised as
        TransportError/TLSError, time limits as DeadlineError. The exchange may take
        `request_limit` seconds plus `expected_bytes` (else the body's size) at MIN_RATE;
        a streamed reply of unknown size is bounded by the run's deadline only."""
        if retry is None:
            retry = method.upper() in IDEMPOTENT_METHODS
        size = expected_bytes if expected_bytes is not None else (body.size if body else None)
        if stream and size is None:
            limit: float | None = None
        else:
            limit = self.retry.request_limit + (size or 0) / MIN_RATE
        started = time.monotonic()
        allowed = self.retry.attempts if retry else 1
        attempts = 0

        def attempt() -> HttpResponse:
            nonlocal attempts
            attempts += 1
            response = self._send_following_redirects(
                method,
                url,
                headers,
                authorization,
                body,
                stream,
                read_limit,
                truncate,
                timeout or self.timeout,
                limit,
            )
            response.attempts = attempts
            response.elapsed = time.monotonic() - started
            if retry and retryable_reply(response):
                response.close()
                raise RetryableStatus(response)
            return response

        try:
            try:
                return attempt()
            except Exception as failure:
                if allowed <= 1 or not is_retryable(failure):
                    raise
                first: Exception | None = failure
            # The first attempt failed in a way worth another: tenacity takes over, the
            # failure replayed as its attempt 1, so it decides every wait as it would have.
            for tenacity_attempt in retrying(
                self.retry,
                method,
                url,
                attempts=allowed,
                started=started,
                remaining=self.remaining,
                sleep=self._sleep,
            ):
                with tenacity_attempt:
                    if first is not None:
                        replayed, first = first, None
                        raise replayed
                    return attempt()
        except RetryableStatus as exc:
            return exc.response
        except GiveUp as exc:
            raise exc.error from None
        except RequestCut as exc:
            raise DeadlineError(str(exc)) from None
        except requests.exceptions.RequestException as exc:
            certs_dir = host_certs_dir(self.certs_dirs, urlsplit(url).netloc.lower()).parent
            raise transport_error(exc, url, certs_dir) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def remaining(self) -> float | None:
        """Seconds left of the run's deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline.remaining()

    def sleep(self, seconds: float) -> None:
        """Wait between attempts (a test may record instead of sleeping)."""
        self._sleep(seconds)

    def _send_following_redirects(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        authorization: str | None,
        body: BodySource | None,
        stream: bool,
        read_limit: int,
        truncate: bool,
        timeout: tuple[float, float],
        limit: float | None,
    ) -> HttpResponse:
        origin = authority(url)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            # Credentials belong to the registry's own authority, never to a redirect target.
            auth_value = authorization if authority(current) == origin else None
            response = self._send_once(
                method,
                current,
                headers,
                auth_value,
                body,
                stream,
                read_limit,
                truncate,
                timeout,
                limit,
            )
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            response.close()
            target = join_url(current, location, f"redirect Location from {authority(current)}")
            if urlsplit(current).scheme == "https" and urlsplit(target).scheme != "https":
                raise RedirectRefusedError(
                    f"refusing redirect from {redact_url(current)} to insecure {redact_url(target)}"
                )
            log.debug("following %d redirect to %s", response.status, redact_url(target))
            if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", None
            current = target
        raise RedirectRefusedError(f"too many redirects from {redact_url(url)}")

    def _send_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        authorization: str | None,
        body: BodySource | None,
        stream: bool,
        read_limit: int,
        truncate: bool,
        timeout: tuple[float, float],
        limit: float | None,
    ) -> HttpResponse:
        run_left = self.remaining()
        if run_left is not None:
            if run_left <= 0:
                assert self.deadline is not None
                raise self.deadline.expired_error()
            limit = run_left if limit is None else min(limit, run_left)
            timeout = (min(timeout[0], run_left), min(timeout[1], run_left))
        self._ensure_adapter(url)
        exchange = Exchange(limit)
        keep_open = False
        try:
            data = _open_body(body)
            log.debug("> %s %s%s", method, redact_url(url), trace_headers(headers, authorization))
            try:
                with exchange.sending():
                    raw = self._session.request(
                        method,
                        url,
                        headers=dict(headers or {}),
                        auth=HeaderAuth(authorization),
                        data=data,
                        stream=True,
                        allow_redirects=False,
                        timeout=timeout,
                        verify=not self._skips_verification(url),
                        proxies=self._session.proxies_for(url),
                    )
            finally:
                if hasattr(data, "close"):
                    data.close()
            challenges = tuple(raw.raw.headers.getlist("WWW-Authenticate")) if raw.raw else ()
            response = HttpResponse(
                status=raw.status_code,
                url=url,
                headers=raw.headers,
                challenges=challenges,
                reason=raw.reason or "",
            )
            if stream and 200 <= raw.status_code < 300:
                response.raw = raw
                response.exchange = exchange
                keep_open = True
            else:
                try:
                    # Reading even a HEAD's empty body lets urllib3 return the connection to
                    # the pool; closing an unread response would drop it.
                    read = read_capped(raw, read_limit, truncate, url)
                    response.body = b"" if method == "HEAD" else read
                finally:
                    raw.close()
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            if exchange.expired:
                raise self._cut_error(method, url, exchange) from None
            if isinstance(exc, urllib3.exceptions.HTTPError):
                raise requests.exceptions.ConnectionError(exc) from exc
            raise
        except ValueError as exc:
            # requests parses a redirect's Location even when not following it.
            raise MalformedResponseError(
                f"{urlsplit(url).netloc} sent a malformed answer to {method} {redact_url(url)}"
                f" ({str(exc)[:100]}); a redirect Location that is not a valid URL?"
            ) from None
        finally:
            if not keep_open:
                exchange.stop()
        if exchange.expired and not keep_open:
            raise self._cut_error(method, url, exchange)
        log.debug(
            "< %d %s%s",
            response.status,
            redact_url(url),
            trace_response_headers(response.headers),
        )
        return response

    def _cut_error(self, method: str, url: str, exchange: Exchange) -> Exception:
        if self.deadline is not None and self.deadline.remaining() <= 0:
            return self.deadline.expired_error()
        return RequestCut(
            f"{method} {redact_url(url)} took longer than its {exchange.limit or 0:.0f} s "
            "limit; cut off"
        )


def _open_body(body: BodySource | None) -> Any:
    if body is None:
        return None
    opened = body.open()
    if isinstance(opened, bytes) or hasattr(opened, "read"):
        return opened
    return _SizedIterable(opened, body.size) if body.size is not None else opened
