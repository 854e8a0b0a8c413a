"""Logging a failing dependency once per outage, not once per message."""

import logging
import re
import threading
import time

log = logging.getLogger(__name__)


class OutageLog:
    """Logs a failing dependency once when it fails and once when it is back, not per call.

    The logging module has no such filter, and python-socketio logs every
    failed publish: during an outage that is one error per message.
    """

    def __init__(self, what):
        self.what = what
        self.outages = 0  # how many outages began so far
        self._down = False
        self._lock = threading.Lock()

    def failed(self, error):
        """Record a failure; only the first of an outage is logged."""
        with self._lock:
            first, self._down = not self._down, True
            self.outages += first
        if first:
            log.error("%s is unavailable (%s); carrying on without it", self.what, error)

    def ok(self):
        """Record a success; logs the recovery after an outage."""
        if self._down:
            with self._lock:
                back, self._down = self._down, False
            if back:
                log.warning("%s is available again", self.what)


class RepeatFilter(logging.Filter):
    """Lets each kind of log line through at most once per ``interval`` seconds.

    Lines differing only in numbers ("retrying in 2 secs", "in 4 secs") are one kind.
    """

    def __init__(self, interval=60):
        super().__init__()
        self.interval = interval
        self._last = {}

    def filter(self, record):
        kind = re.sub(r"\d+", "#", str(record.msg))
        now = time.monotonic()
        if now - self._last.get(kind, -self.interval) < self.interval:
            return False
        self._last[kind] = now
        return True
