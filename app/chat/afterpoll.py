"""Under eventlet: start a task once the hub has run every socket its poll found ready.

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

``spawn_after_poll(until, function, *args)`` starts the leader's task at the
end of the poll half instead, once every socket that poll found ready has been
read, so that a batch holds what that poll read and its writers send in the
very next timers, as the bare app's do. Eventlet has no hook for it (a poll's
readers run in no set order), so ``AfterPoll`` wraps the ``wait`` method of
the hub instance: it runs the poll, then starts the tasks whose time has come;
while any is waiting, the poll waits no longer than the earliest of them
needs. Written by hand: no library offers this, and the wrapper changes
nothing else of the hub's.

First built to resume the waiting leader's own greenlet there (the reader of
the socket whose message started the batch): that socket then gave one message
per pass of the event loop (``service._defer_for``).
"""

import logging
import time

from eventlet import greenthread, hubs

log = logging.getLogger(__name__)

# The attribute of a hub that holds its AfterPoll.
_ATTRIBUTE = "_chat_after_poll"


def spawn_after_poll(until, function, *args):
    """Run ``function(*args)`` in a green thread at the end of the first poll ending at ``until`` or later.

    Like ``eventlet.spawn``, but started from the end of a poll rather than
    from the next round's timers. ``until`` is a ``time.monotonic()``
    reading; one already past means the end of the current poll (or, from a
    timer, of the next one). An exception the function raises is logged.
    """
    install().waiting.append((until, function, args))


def install():
    """The ``AfterPoll`` of this thread's hub, wrapping its ``wait`` from now on.

    Call it before the hub polls for the sockets that matter: a poll already
    in progress when it is first called starts nothing.
    """
    hub = hubs.get_hub()
    waiter = getattr(hub, _ATTRIBUTE, None)
    if waiter is None:
        waiter = AfterPoll(hub)
        setattr(hub, _ATTRIBUTE, waiter)
    return waiter


class AfterPoll:
    """Wraps ``hub.wait`` (one poll and its readers) to start waiting tasks after it."""

    def __init__(self, hub):
        self.hub = hub
        self.waiting = []  # (until, function, args), in the order they were asked for
        self._poll = hub.wait
        hub.wait = self._poll_then_start

    def _poll_then_start(self, seconds=None):
        if self.waiting:
            rest = min(until for until, _function, _args in self.waiting) - time.monotonic()
            seconds = max(0.0, rest if seconds is None else min(seconds, rest))
        self._poll(seconds)
        if not self.waiting:
            return
        now = time.monotonic()
        due = [task for task in self.waiting if task[0] <= now]
        if not due:
            return
        # Those asked for while these run wait for the next poll.
        self.waiting = [task for task in self.waiting if task[0] > now]
        for _until, function, args in due:
            try:
                # As eventlet.spawn starts one, but now: a green thread whose parent is the hub.
                greenthread.GreenThread(self.hub.greenlet).switch(function, args, {})
            except self.hub.SYSTEM_EXCEPTIONS:
                raise
            except BaseException:  # as the hub treats a reader's: logged, and the loop goes on
                log.exception("a task started after the poll failed")
