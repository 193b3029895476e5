"""The requests plumbing the Transport sends through, set up so that our rules hold, not
requests' defaults: Authorization only as the Transport sets it (never from ~/.netrc), TLS
from our own SSLContext per host (not certifi), proxies from the environment read once per
host, and adapters mounted safely while other threads send."""

from __future__ import annotations

import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils

from manifestor.remote.watchdog import WatchedAdapter


class Session(requests.Session):
    """A Session whose adapters may be mounted while other threads send requests, and
    which reads the proxy variables once per scheme://host.

    requests (trust_env) scans every environment variable for proxy settings, and looks
    for ~/.netrc, on every request: about 0.2 ms each here; the environment does not change
    during a run. So the session does not read the environment itself, and `proxies_for`
    gives what requests would have found (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), once."""

    def __init__(self) -> None:
        self._adapters_lock = threading.Lock()  # before super(): it mounts the defaults
        super().__init__()
        # Also keeps ~/.netrc and REQUESTS_CA_BUNDLE out: credentials and CAs are ours.
        self.trust_env = False
        self._proxies: dict[str, dict[str, str]] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        with self._adapters_lock:
            found = self._proxies.get(key)
        if found is None:
            found = requests.utils.get_environ_proxies(url)
            with self._adapters_lock:
                self._proxies[key] = found
        return found

    def mount(self, prefix: str, adapter: requests.adapters.BaseAdapter) -> None:  # type: ignore[override]
        with self._adapters_lock:
            super().mount(prefix, adapter)

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        with self._adapters_lock:
            return super().get_adapter(url)


class HeaderAuth(requests.auth.AuthBase):
    """Sets (or withholds) Authorization explicitly, so ~/.netrc never overrides it."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        if self.value:
            request.headers["Authorization"] = self.value
        return request


class ContextAdapter(WatchedAdapter):
    """An adapter whose TLS settings come from our SSLContext, not from certifi."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The context already holds the CAs, client cert and verify mode.
        return None
