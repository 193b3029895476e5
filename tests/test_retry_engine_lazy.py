"""tenacity is imported only when a first attempt fails in a way worth another (start-up
time: about a tenth of a command's imports), and a retry then behaves as it always did:
the same waits, the same attempt count. Each case runs in a fresh interpreter, since this
test process has imported tenacity long ago."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

SCRIPT = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

failures = int(sys.argv[1])
answered = []

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        answered.append(self.path)
        status = 503 if len(answered) <= failures else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()

from manifestor.remote.retry import RetryPolicy
from manifestor.remote.transport import Transport

waits = []
transport = Transport(retry=RetryPolicy(attempts=4, backoff=0.01), sleep=waits.append)
url = f"http://127.0.0.1:{server.server_address[1]}/v2/"
response = transport.request("GET", url)
print(json.dumps({
    "status": response.status,
    "attempts": response.attempts,
    "requests": len(answered),
    "waits": waits,
    "tenacity": "tenacity" in sys.modules,
}))
"""


def _run(failures: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(failures)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_first_attempt_that_succeeds_needs_no_retry_engine():
    assert _run(0) == {"status": 200, "attempts": 1, "requests": 1, "waits": [], "tenacity": False}


def _backoff_after(attempt: int) -> tuple[float, float]:
    """RetryPolicy(backoff=0.01): 0.01 * 2 ** (attempt - 1), plus up to 0.01 of jitter."""
    low = 0.01 * 2 ** (attempt - 1)
    return low, low + 0.01


def _assert_backoff(waits: object, count: int) -> None:
    assert isinstance(waits, list) and len(waits) == count
    for attempt, wait in enumerate(waits, start=1):
        low, high = _backoff_after(attempt)
        assert low <= wait <= high, (attempt, waits)


def test_a_retryable_first_failure_hands_over_to_tenacity_which_waits_as_before():
    # Two 503s then 200: attempt 1 failed outside tenacity and is replayed as its attempt
    # 1, so the waits are the first and second steps of the backoff, not the second and third.
    seen = _run(2)
    _assert_backoff(seen.pop("waits"), 2)
    assert seen == {"status": 200, "attempts": 3, "requests": 3, "tenacity": True}


def test_the_last_retryable_reply_is_returned_after_every_attempt():
    seen = _run(9)
    _assert_backoff(seen.pop("waits"), 3)
    assert seen == {"status": 503, "attempts": 4, "requests": 4, "tenacity": True}
