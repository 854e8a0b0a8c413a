"""Group commit: the messages that arrive together are stored in one transaction.

Each transaction has a fixed cost: on SQLite the commit's own writes; on
PostgreSQL a round trip and a commit. ``python -m bench.store_batches`` on
SQLite (three runs on a slow day): a message stored alone costs 70 to 79 µs,
one of sixteen in a transaction 32 to 35; on PostgreSQL (an earlier day) 406
and 57.
So the sockets whose messages arrive together hand them to one of them, the
leader, which stores them all in one transaction, delivers them in id order,
and hands each of the others its outcome through a callback (their sockets
went on reading meanwhile: ``acks``). Every message is committed before its
sender hears its ack.

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
(``window(item)``: a private message to a store with a cost per transaction,
and under eventlet on PostgreSQL a public one, without a window), and only
while pauses gather: after a pause that found no other message, the next
``PROBE_EVERY - 1`` batches go without one, then one pause probes again.
Under eventlet the pause is taken by a task started at its end (``defer``),
after the poll's readers and before the writers they woke, not by the
socket whose message starts the batch: that socket reads on meanwhile.
"""

import logging
import threading
import time

log = logging.getLogger(__name__)

# With ``overlap``: at most this many batches one after another under one hold of the lock.
CHAIN = 16
# After a pause that gathered nothing, one batch in this many pauses to probe again.
PROBE_EVERY = 8
# What ``submit`` returns for an item whose outcome will go to its ``later`` callback.
PENDING = object()


class _Entry:
    """One submitted item, when it was submitted, its outcome, and where that goes (``later``)."""

    __slots__ = ("item", "later", "outcome", "since")

    def __init__(self, item, later):
        self.item = item
        self.later = later
        self.since = time.monotonic()
        self.outcome = None


class GroupCommit:
    """Runs ``process(items)`` on the items submitted together, one batch at a time.

    ``process`` takes a list of items and returns their outcomes, in the same
    order; it runs while ``lock`` is held (the chat's delivery lock), so
    batches never overlap, in this process or (with a shared lock) in any.
    ``window(item)`` says how long (seconds) a batch led by ``item`` may
    pause to gather others, counted from its submission, or None: no pause.
    ``pause(waited, window)`` lets the other sockets run before a batch is
    taken, so those with a message ready join it (what is left of the
    window, or a yield: ``service._pause_for``); ``waited`` is how long, in
    seconds, the leader's own item has waited since it was submitted. With
    ``defer(until, function, *args)`` (under eventlet: ``service._defer_for``),
    a batch that pauses is led instead by a task that it starts once the
    pause is over (``until``, a ``time.monotonic()`` reading), and its
    submitter's ``submit`` returns ``PENDING`` at once. With ``detach``, a
    batch that does not pause is led by a task that ``spawn`` starts, and
    its submitter's ``submit`` returns ``PENDING`` at once too.

    With ``overlap``, a ``(begin, end, deliver)`` of the items' stages in
    place of ``process``: ``begin(items)`` sends them to the store without
    waiting, ``end(items, sent)`` waits for the store's answer and returns
    their outcomes, ``deliver(items, outcomes)`` hands the stored ones on.
    A leader then chains the batches that queue meanwhile (``_chain``).

    Nobody waits for another's batch. A submitter that finds no batch in
    progress leads one at once: it pauses (when ``window`` gives its own
    item a window, and pauses have been gathering; see the module's
    docstring), takes every waiting item, processes them, and
    ``submit`` returns its own outcome. An item submitted while a batch is in
    progress is queued, ``submit`` returns ``PENDING``, and ``later(outcome)``
    is called once its batch is done (with the exception, for an item whose
    batch raised). The first item to arrive after a batch was taken leads the
    next one, in a task that ``spawn(function, *args)`` starts (or ``defer``).

    First built with submitters waiting for their batch, each on an event,
    the first to arrive during a batch then leading the next: a socket's
    reader, which reads nothing more from its socket until its handler
    returns, was held up meanwhile. See ``acks`` for what that cost.
    """

    def __init__(self, process, lock, pause, spawn=None, window=None, defer=None, overlap=None, detach=False):
        self._process = process
        self._overlap = overlap
        self._detach = detach
        self._lock = lock
        self._pause = pause
        self._spawn = spawn or _thread
        self._window = window or (lambda _item: 0.0)
        self._defer = defer
        self._mutex = threading.Lock()
        # Guarded by _mutex:
        self._queue = []  # the items waiting to be taken, in the order they arrived
        self._leading = False  # whether a leader is at work (pausing, or with a batch)
        self._taken = False  # whether it has taken its batch: what arrives now is for the next one
        self._successor = None  # the first to arrive after that, who leads the next batch
        # Read and written by the leader only (one at a time).
        self._gathered = True  # whether the last pause found other items waiting
        self._unpaused = 0  # batches led without a pause since the last one

    def submit(self, item, later):
        """Return the outcome of ``item`` when its submitter leads its batch, else ``PENDING``.

        Leading, an exception of ``process`` is raised here; else ``later``
        hears the outcome, or the exception.
        """
        with self._mutex:
            lead = not self._leading
            entry = _Entry(item, None if lead else later)
            self._queue.append(entry)
            if lead:
                self._leading = True
            elif self._taken and self._successor is None:
                self._successor = entry
        if not lead:
            return PENDING
        window = self._pause_window(item)
        if window is not None and self._defer is not None:
            entry.later = later
            self._defer(entry.since + window, self._lead_detached, entry, window, True)
            return PENDING
        if window is None and self._detach:
            entry.later = later
            self._spawn(self._lead_detached, entry, None)
            return PENDING
        self._lead(entry, window)
        if isinstance(entry.outcome, _Failure):
            raise entry.outcome.error
        return entry.outcome

    def _take(self, following=False):
        """The waiting items; later arrivals are the next batch's.

        ``following``: taken by a chain (``_chain``), which leads them, so the
        successor among them is one no more; a later arrival becomes the next.
        """
        with self._mutex:
            batch, self._queue = self._queue, []
            self._taken = True
            if following:
                self._successor = None
        return batch

    def _pause_window(self, item):
        """The window of a batch led by ``item``, or None for no pause (see the module's docstring)."""
        window = self._window(item)
        if window is None or not (self._gathered or self._unpaused >= PROBE_EVERY - 1):
            return None
        return window

    def _lead(self, leader, window, deferred=False):
        batch = []
        try:
            paused = window is not None
            if paused and not deferred:
                self._pause(time.monotonic() - leader.since, window)
            with self._lock:
                batch = self._take()
                if paused:
                    self._gathered, self._unpaused = len(batch) > 1, 0
                else:
                    self._unpaused += 1
                if self._overlap is None:
                    outcomes = self._process([entry.item for entry in batch])
                    for entry, outcome in zip(batch, outcomes, strict=True):
                        entry.outcome = outcome
                else:
                    # A submitter waiting for its own outcome is not held up by later batches.
                    self._chain(batch, CHAIN if leader.later is not None else 1)
        except BaseException as error:  # a bug, or a lock that failed: every submitter hears it
            if not batch:  # failed before taking the batch: take it now, to fail it
                batch = self._take()
            for entry in batch:
                entry.outcome = _Failure(error)
            raise
        finally:
            with self._mutex:
                successor, self._successor = self._successor, None
                self._taken = False
                self._leading = successor is not None
            if successor is not None:
                self._hand_over(successor)
            _answer(batch)

    def _chain(self, batch, links):
        """Store and deliver ``batch`` in stages, and up to ``links - 1`` batches that queue meanwhile.

        Each batch's outcomes come from ``end`` once the store has answered;
        then what queued meanwhile is taken and ``begin`` sends it to the
        store, and only then is the batch before delivered (``deliver``) and
        its senders answered. So the writers that a delivery wakes run while
        the store works on the next batch, instead of before its request
        goes out. At most ``CHAIN`` batches go so under one hold of the
        lock; then what is left is led as usual (the successor), so that a
        socket waiting for the lock to join waits for a few batches at most.
        A leader whose submitter waits for its outcome (it leads its own
        batch, in its socket's reader) leads that batch alone.

        An exception in the first batch is raised, as ``process``'s would
        be; in a later one it fails that batch's senders, and the one sent
        after it, and is logged.
        """
        begin, end, deliver = self._overlap
        items = [entry.item for entry in batch]
        sent = begin(items)
        for link in range(links):
            following = []
            try:
                outcomes = end(items, sent)
                for entry, outcome in zip(batch, outcomes, strict=True):
                    entry.outcome = outcome
                if link < links - 1:
                    following = self._take(following=True)
                if following:
                    following_items = [entry.item for entry in following]
                    following_sent = begin(following_items)
                deliver(items, outcomes)
            except BaseException as error:
                for entry in batch + following:
                    entry.outcome = _Failure(error)
                _answer(following)
                if link == 0:
                    raise  # ``_lead`` answers the first batch's senders
                log.exception("a group commit batch failed")
                following = []
            _answer(batch)
            if not following:
                return
            batch, items, sent = following, following_items, following_sent

    def _hand_over(self, successor):
        """Start the task that leads the next batch: deferred to the end of its pause, if it pauses.

        A deferred one is asked for from a task of its own (``spawn``): under
        eventlet it then starts at the end of the next poll, not of the one
        whose reader (the database's answer) ended this batch, so the writers
        this batch woke run first and the next batch holds what two polls
        read. Deferred at once, one batch a poll, the server's core was 98.2
        to 98.7% busy at 480 fan-out messages a second on PostgreSQL, against
        93.4 to 95.2 (``python -m bench.run --servers
        chatroom-eventlet-postgresql --scenarios fanout --fixed 480
        --step-seconds 10``, three runs each, 2026-12-07): each batch
        delivered wakes every socket's writer.
        """
        window = self._pause_window(successor.item)
        if window is not None and self._defer is not None:
            self._spawn(self._defer, successor.since + window, self._lead_detached, successor, window, True)
        else:
            self._spawn(self._lead_detached, successor, window)

    def _lead_detached(self, leader, window, deferred=False):
        """Lead the batch of ``leader``, whose submitter did not wait: in a task of its own."""
        try:
            self._lead(leader, window, deferred)
        except Exception:  # every item of the batch heard it through its ``later``
            log.exception("a group commit batch failed")


def _answer(batch):
    """Hand each submitter of ``batch`` that did not wait its outcome, once (a chain's, then ``_lead``'s)."""
    for entry in batch:
        if entry.later is not None:
            _reply(entry)
            entry.later = None


def _reply(entry):
    """Hand a submitter its outcome; a callback that fails is logged, not raised."""
    outcome = entry.outcome
    try:
        entry.later(outcome.error if isinstance(outcome, _Failure) else outcome)
    except Exception:
        log.exception("a group commit callback failed")


def _thread(function, *args):
    threading.Thread(target=function, args=args, daemon=True).start()


class _Failure:
    """The outcome of an item whose batch raised."""

    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error
