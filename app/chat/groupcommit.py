"""Group commit: the messages that arrive together are stored in one transaction.

Each transaction has a fixed cost: on SQLite the commit's own writes; on
PostgreSQL a round trip and a commit. ``python -m bench.store_batches`` on
SQLite (three runs on a slow day): a message stored alone costs 70 to 79 µs,
one of sixteen in a transaction 32 to 35; on PostgreSQL (an earlier day) 406
and 57.
So the sockets whose messages arrive together hand them to one of them, the
leader, which stores them all in one transaction, delivers them in id order,
and wakes the others with their outcome. Every message is committed before
its sender hears its ack, as before.

Written by hand because no library does this part: SQLAlchemy executes many
rows in one statement (``insertmanyvalues``) but nothing gathers the messages
of concurrent sockets into it, and a database's own group commit (PostgreSQL's
``commit_delay``; SQLite has none) would not remove the per-transaction work
outside the database.

Batches grow with the load, because what arrives while one batch is being
stored waits for the next, and the leader pauses before it takes its batch:
by default until its own message has waited a short window (10 ms), during
which every message handed in joins it; or, with no window, until the rest
of the event loop's pass has run, so that messages already read join it
(``_pause_for`` in service.py). The window counts from when the leader's
message was handed in, not from when it came to lead: a message that waited
out the previous batch does not wait a window more, so the window adds at
most its own length to a message's latency, however busy the room.
In a quiet room a message goes alone. A pause has a price: every
greenlet woken meanwhile runs then, above all the writers of earlier deliveries,
each with the one packet it was woken for. Without pauses a socket's reader
goes on with the frames already in its buffer, and each writer, when its turn
comes, sends what piled up: under room fan-out (200 clients, eventlet) Chatroom
carried 41,180 deliveries/s with a pause before every message and 63,356
without it, against the bare floor's 53,082 and 63,380 in the same two runs
(2026-11-28). So the leader pauses only where gathering can pay
(``gathers(item)``: a private message to a store with a cost per transaction),
and only while pauses gather: after a pause that found no other message, the
next ``PROBE_EVERY - 1`` batches go without one, then one pause probes again.
"""

import threading
import time

# After a pause that gathered nothing, one batch in this many pauses to probe again.
PROBE_EVERY = 8


class _Entry:
    """One submitted item, its outcome, when it was submitted, and what its submitter waits on (followers)."""

    __slots__ = ("done", "item", "lead", "outcome", "since", "wake")

    def __init__(self, item):
        self.item = item
        self.since = time.monotonic()
        self.outcome = None
        self.done = False
        self.lead = False
        self.wake = None


class GroupCommit:
    """Runs ``process(items)`` on the items submitted together, one batch at a time.

    ``process`` takes a list of items and returns their outcomes, in the same
    order; it runs while ``lock`` is held (the chat's delivery lock), so
    batches never overlap, in this process or (with a shared lock) in any.
    ``pause(waited)`` lets the other sockets run before a batch is taken, so
    those with a message ready join it (``server.sleep`` for what is left of
    the window, or a yield); ``waited`` is how long, in seconds, the leader's
    own item has waited since it was submitted. ``event`` makes the
    events followers wait on: the async mode's own (python-engineio's
    ``create_event``). Under gevent, the standard library's ``threading.Event``
    (a Condition over patched locks) cost about 6% of the server's CPU in a
    py-spy profile of private messages; gevent's own is compiled.

    The first submitter with no batch in progress leads: it pauses (when
    ``gathers`` says of its own item that gathering can pay, and pauses have
    been gathering; see the module's docstring), takes every waiting item,
    processes them and wakes their submitters. The first to arrive after
    that leads the next batch. Nobody waits for more than the batch in
    progress and its own.

    The followers of one batch all wait on one event, set once when their
    batch is done; only the next batch's leader has an event of its own. An
    event per follower cost a ``set`` per message: 6.8% of the gevent
    worker's py-spy samples at 5,600 private messages a second on
    PostgreSQL (2026-12-06), in batches of about 160.
    """

    def __init__(self, process, lock, pause, event=threading.Event, gathers=None):
        self._process = process
        self._lock = lock
        self._pause = pause
        self._event = event
        self._gathers = gathers or (lambda _item: True)
        self._mutex = threading.Lock()
        # Guarded by _mutex:
        self._queue = []  # the items waiting to be taken, in the order they arrived
        self._leading = False  # whether a leader is at work (pausing, or with a batch)
        self._taken = False  # whether it has taken its batch: what arrives now is for the next one
        self._successor = None  # the first to arrive after that, who leads the next batch
        self._followers = None  # the event every other waiting submitter waits on
        # Read and written by the leader only (one at a time).
        self._gathered = True  # whether the last pause found other items waiting
        self._unpaused = 0  # batches led without a pause since the last one

    def submit(self, item):
        """Return the outcome of ``item``; an exception of ``process`` is raised here."""
        entry = _Entry(item)
        with self._mutex:
            self._queue.append(entry)
            if not self._leading:
                self._leading = entry.lead = True
            elif self._taken and self._successor is None:
                self._successor = entry
                entry.wake = self._event()
            else:
                if self._followers is None:
                    self._followers = self._event()
                entry.wake = self._followers
        if not entry.lead:
            entry.wake.wait()
        if not entry.done:  # woken to lead the next batch
            self._lead(entry)
        if isinstance(entry.outcome, _Failure):
            raise entry.outcome.error
        return entry.outcome

    def _take(self):
        """The waiting items and the event their followers wait on; later arrivals are the next batch's."""
        with self._mutex:
            batch, self._queue = self._queue, []
            followers, self._followers = self._followers, None
            self._taken = True
        return batch, followers

    def _lead(self, leader):
        batch, followers = [], None
        try:
            paused = self._gathers(leader.item) and (self._gathered or self._unpaused >= PROBE_EVERY - 1)
            if paused:
                self._pause(time.monotonic() - leader.since)
            with self._lock:
                batch, followers = self._take()
                if paused:
                    self._gathered, self._unpaused = len(batch) > 1, 0
                else:
                    self._unpaused += 1
                outcomes = self._process([entry.item for entry in batch])
            for entry, outcome in zip(batch, outcomes, strict=True):
                entry.outcome = outcome
        except BaseException as error:  # a bug, or a lock that failed: every submitter hears it
            if not batch:  # failed before taking the batch: take it now, to fail it
                batch, followers = self._take()
            for entry in batch:
                entry.outcome = _Failure(error)
            raise
        finally:
            with self._mutex:
                successor, self._successor = self._successor, None
                self._taken = False
                if successor is None:
                    self._leading = False
                else:
                    successor.lead = True
            for entry in batch:
                entry.done = True
            if followers is not None:
                followers.set()
            if successor is not None:
                successor.wake.set()


class _Failure:
    """The outcome of an item whose batch raised."""

    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error
