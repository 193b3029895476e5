"""Pure helpers of the transport: Retry-After, redaction, authorities."""

from __future__ import annotations

import email.utils

from manifestor.remote.redact import redact_text, redact_url
from manifestor.remote.retry import parse_retry_after
from manifestor.remote.urls import authority


def test_retry_after_in_seconds_and_as_http_date():
    assert parse_retry_after("2") == 2.0
    date = email.utils.formatdate(1000.0 + 3, usegmt=True)
    assert parse_retry_after(date, now=1000.0) == 3.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_redaction_hides_upload_state_and_signatures_but_keeps_digests():
    url = "https://r/v2/a/blobs/uploads/x?_state=SECRET&digest=sha256:ab&X-Amz-Signature=S"
    shown = redact_url(url)
    assert "SECRET" not in shown and "=S" not in shown
    assert "digest=sha256:ab" in shown


def test_authority_includes_default_ports_and_lowercases():
    assert authority("https://Reg.Example/v2/") == "reg.example:443"
    assert authority("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert authority("http://[::1]:5000/v2/") == "[::1]:5000"


def test_redaction_inside_error_text_hides_query_values_but_keeps_digests():
    text = (
        "HTTPConnectionPool(host='r', port=1): Max retries exceeded with url: "
        "/v2/a/blobs/uploads/u?_state=SECRET%3D%3D&digest=sha256%3Aab (Caused by X)"
    )
    shown = redact_text(text)
    assert "SECRET" not in shown
    assert "?_state=REDACTED&digest=sha256%3Aab (Caused by X)" in shown
