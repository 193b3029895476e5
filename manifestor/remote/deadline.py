"""The run's time limit (`--timeout`, MANIFESTOR_TIMEOUT): when the whole run must end.
Cheap to import, so the CLI can parse the option before it loads the wire."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from manifestor.errors import DeadlineError


@dataclass(frozen=True)
class Deadline:
    """When the whole run must end (`--timeout`, MANIFESTOR_TIMEOUT), on the monotonic clock."""

    seconds: float
    ends_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError("a timeout must be a positive number of seconds")
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.ends_at - time.monotonic()

    def expired_error(self) -> DeadlineError:
        return DeadlineError(f"the run's time limit of {self.seconds:g} s (--timeout) ran out")


def parse_timeout(text: str, where: str) -> Deadline:
    """`--timeout` / MANIFESTOR_TIMEOUT: seconds, or with a unit (`90s`, `15m`, `2h`)."""
    from manifestor.errors import UsageError

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*", text or "")
    if not match:
        raise UsageError(f"{where}: {text!r} is not a duration (seconds, or 90s, 15m, 2h)")
    seconds = float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    try:
        return Deadline.after(seconds)
    except ValueError:
        raise UsageError(f"{where}: the timeout must be more than 0 seconds") from None
