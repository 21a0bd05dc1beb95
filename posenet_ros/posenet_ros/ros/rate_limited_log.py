"""
Log lines that may repeat every frame, at most once per cause and period.

A flaky camera can send a bad frame every 30 ms; the log must say so once per period with a count,
not once per frame. The key is the cause, not the text: two frames that fail for the same reason
with different byte counts or sizes are one cause (`cause_of` masks the numbers).
"""
from __future__ import annotations

import re
import threading
import time
from typing import Callable

DEFAULT_PERIOD_S = 5.0
MAX_CAUSES = 256  # distinct causes remembered; older ones are forgotten (bounded memory)

_NUMBER = re.compile(r'[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?', re.IGNORECASE)


def cause_of(message: str) -> str:
    """Return the message with every number replaced by '#': what stays the same between frames."""
    return _NUMBER.sub('#', message)


class RateLimitedLog:
    """
    `log(message, cause=None)` logs at most once per `period_s` for each cause.

    The first message of a cause is logged at once; the ones that follow within the period are
    counted and the next logged line says how many were held back. `cause` defaults to
    `cause_of(message)`.
    """

    def __init__(self, log: Callable[[str], object], period_s: float = DEFAULT_PERIOD_S):
        self._log = log
        self._period_s = period_s
        self._last: dict[str, tuple[float, int]] = {}  # cause -> (time logged, held back since)
        self._lock = threading.Lock()

    def __call__(self, message: str, cause: str | None = None) -> bool:
        """Log `message` unless its cause was logged within the period; True if logged."""
        key = cause if cause is not None else cause_of(message)
        now = time.monotonic()
        with self._lock:
            if len(self._last) > MAX_CAUSES:
                self._last = {k: entry for k, entry in self._last.items()
                              if now - entry[0] < self._period_s}
                while len(self._last) > MAX_CAUSES:
                    del self._last[next(iter(self._last))]
            logged_at, held_back = self._last.get(key, (-float('inf'), 0))
            if now - logged_at < self._period_s:
                self._last[key] = (logged_at, held_back + 1)
                return False
            self._last[key] = (now, 0)
        if held_back:
            message += f' ({held_back} more like this in the last {now - logged_at:.0f} s)'
        self._log(message)
        return True
