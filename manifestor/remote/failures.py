"""A request that got no answer (refused, reset, timed out, a TLS handshake that failed)
told as one typed error in the user's terms: an untrusted certificate names the file its
CA belongs in, a refused client certificate the files the registry wants."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import requests

from manifestor.errors import TLSError, TransportError
from manifestor.remote.redact import redact_text, redact_url
from manifestor.remote.tls import DEFAULT_CERTS_DIR


def transport_error(
    exc: requests.exceptions.RequestException, url: str, certs_dir: Path = DEFAULT_CERTS_DIR
) -> TransportError:
    where = redact_url(url)
    host = urlsplit(url).netloc
    if isinstance(exc, requests.exceptions.SSLError):
        host_dir = certs_dir / host
        if is_cert_error(exc):
            return TLSError(
                f"TLS certificate of {host} is not trusted ({short_reason(exc)}); put its CA "
                f"in {host_dir}/ca.crt, or pass --insecure to skip verification"
            )
        reason = _ssl_reason(exc)
        if "BAD_CERTIFICATE" in reason or "CERTIFICATE_REQUIRED" in reason:
            return TLSError(
                f"TLS handshake with {host} failed: the registry wants a client certificate "
                f"it accepts ({reason}); put it in {host_dir}/client.cert and client.key"
            )
        return TLSError(f"TLS handshake with {host} failed: {reason or short_reason(exc)}")
    if isinstance(exc, requests.exceptions.Timeout):
        return TransportError(f"timed out talking to {host} ({where})")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError(f"connection to {host} broke while reading {where}")
    return TransportError(f"cannot reach {host}: {short_reason(exc)}")


def is_cert_error(exc: BaseException) -> bool:
    """The server's certificate was not trusted, however deep in the wrappers that is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__ or _first_arg_exception(current)
    return False


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, BaseException):
            return arg
        reason = getattr(arg, "reason", None)
        if isinstance(reason, BaseException):
            return reason
    return None


def short_reason(exc: BaseException) -> str:
    """A failure in a few words: the known cause if there is one, else its first line."""
    text = str(exc)
    for marker in (
        "certificate verify failed",
        "Connection refused",
        "Connection reset",
        "Name or service not known",
        "wrong version number",
        "record layer failure",
    ):
        if marker.lower() in text.lower():
            return marker.lower()
    return redact_text(text.splitlines()[0])[:200] if text else type(exc).__name__


def _ssl_reason(exc: BaseException) -> str:
    """OpenSSL's own words (`[SSL: WRONG_VERSION_NUMBER] wrong version number`), not the
    layers of wrappers around them."""
    match = re.search(r"\[SSL: [A-Z0-9_]+\][^(')\]]*", str(exc))
    return match.group(0).strip() if match else ""
