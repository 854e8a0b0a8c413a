"""Under eventlet: resume a greenlet once the hub has run every socket its poll found ready.

Eventlet's hub turns round in two halves (``BaseHub.run``): it fires the
timers that are due, then polls and runs the reader of every socket the poll
found ready. A greenlet woken by a timer set meanwhile (a socket's writer,
once a packet is queued for it; a task just spawned; the end of a ``sleep``)
runs in the next round's timers. The bare Flask-SocketIO app relays a message
in the reader that read it, so its writers send in the next round's timers.
The group commit's leader stores and delivers a whole batch at once; resumed
from a timer (the end of its commit window, or spawned), it delivered in one
round's timers, and the writers sent in the round after that: a round after the
bare app's, and near saturation a round lasts tens of milliseconds.

``after_poll(until)`` resumes the leader at the end of the poll half instead,
once every socket that poll found ready has been read, so that a batch holds
what that poll read and its writers send in the very next timers, as the bare
app's do. Eventlet has no hook for it (a poll's readers run in no set order),
so ``AfterPoll`` wraps the ``wait`` method of the hub instance: it runs the
poll, then resumes the greenlets whose time has come; while any is waiting, the
poll waits no longer than the earliest of them needs. Written by hand: no
library offers this, and the wrapper changes nothing else of the hub's.
"""

import logging
import time

import greenlet
from eventlet import hubs

log = logging.getLogger(__name__)

# The attribute of a hub that holds its AfterPoll.
_ATTRIBUTE = "_chat_after_poll"


def after_poll(until=0.0):
    """Block the current greenlet until the end of the first poll that ends at or after ``until``.

    ``until`` is a ``time.monotonic()`` reading; one already past means the
    end of the current poll (or, from a timer, of the next one).
    """
    install().wait(until)


def install():
    """The ``AfterPoll`` of this thread's hub, wrapping its ``wait`` from now on.

    Call it before the hub polls for the sockets that matter: a poll already
    in progress when it is first called resumes nobody.
    """
    hub = hubs.get_hub()
    waiter = getattr(hub, _ATTRIBUTE, None)
    if waiter is None:
        waiter = AfterPoll(hub)
        setattr(hub, _ATTRIBUTE, waiter)
    return waiter


class _Waiting:
    __slots__ = ("greenlet", "until")

    def __init__(self, until, waiting):
        self.until = until
        self.greenlet = waiting


class AfterPoll:
    """Wraps ``hub.wait`` (one poll and its readers) to resume waiting greenlets after it."""

    def __init__(self, hub):
        self.hub = hub
        self.waiting = []
        self._poll = hub.wait
        hub.wait = self._poll_then_resume

    def wait(self, until):
        """Switch to the hub until ``_poll_then_resume`` resumes this greenlet (see ``after_poll``)."""
        entry = _Waiting(until, greenlet.getcurrent())
        self.waiting.append(entry)
        try:
            self.hub.switch()
        finally:
            # Resumed by anything else (an exception thrown in): never resume it later.
            if entry.greenlet is not None:
                entry.greenlet = None
                self.waiting = [other for other in self.waiting if other is not entry]

    def _poll_then_resume(self, seconds=None):
        if self.waiting:
            rest = min(entry.until for entry in self.waiting) - time.monotonic()
            seconds = max(0.0, rest if seconds is None else min(seconds, rest))
        self._poll(seconds)
        if not self.waiting:
            return
        now = time.monotonic()
        due = [entry for entry in self.waiting if entry.until <= now]
        if not due:
            return
        # Those that start waiting while these run wait for the next poll.
        self.waiting = [entry for entry in self.waiting if entry.until > now]
        for entry in due:
            waiting, entry.greenlet = entry.greenlet, None
            if waiting is None or waiting.dead:
                continue
            try:
                waiting.switch()
            except self.hub.SYSTEM_EXCEPTIONS:
                raise
            except BaseException:  # as the hub treats a reader's: logged, and the loop goes on
                log.exception("a greenlet resumed after the poll failed")
