"""The chat's rules, apart from the socket layer: who may say what to whom, and what was said."""

import dataclasses
import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from ..auth.models import User
from ..extensions import db
from .groupcommit import PENDING, GroupCommit
from .presence import OnlineUser, PresenceUnavailable
from .protocol import (
    CATCH_UP_MAX,
    EVERYONE,
    HISTORY_PAGE,
    INTERNAL_ERROR,
    ChatError,
    iso,
    read_cid,
    read_history_request,
    read_say,
    read_target,
)
from .store import Draft, DuplicateMessage, unavailable

log = logging.getLogger(__name__)

NAMESPACE = "/chat"
# Every connected socket joins this room once it has its history; public messages go here.
EVERYONE_ROOM = "everyone"


def personal_room(user_id):
    """The room holding every socket of one user: private messages go there."""
    return f"user:{user_id}"


class Chat:
    """Presence, limits and the store behind the /chat namespace.

    One instance lives in ``app.extensions["chat"]``; the namespace's handlers
    call it and emit what it hands them, except messages: those it emits
    itself, as the socket storing a batch delivers the others' messages too.

    ``delivery`` is held while messages are stored and emitted, and while a
    connecting socket reads its history and joins its rooms. So ids reach each
    socket in increasing order, and a new socket gets every message exactly
    once: in its history or live, never both, never neither. With several
    processes it is a lock shared through Redis (``scaleout.SharedLock``):
    ids are then published in order, though a message published by another
    process just before a socket joined can reach it both in its history and
    live (clients deduplicate by id).

    Messages sent together are stored together (``groupcommit``): one
    transaction, then delivered in id order, then acknowledged. A private
    message waits up to ``commit_window`` seconds for others to join its
    transaction (``_pause_for``). A socket whose message joins a batch in
    progress is not held up meanwhile: ``post`` hands its acknowledgement
    to ``reply`` later (``acks``), and the socket reads its next event. A
    batch that no waiting socket leads runs in a task of its own, in an
    application context from ``app_context``.

    With ``overlap`` (PostgreSQL, whose answer comes over a socket) a batch
    is stored in stages (``GroupCommit``'s ``_chain``): once its INSERT is
    answered, the messages that arrived meanwhile are sent as the next
    batch, and only then is it delivered, so the writers it wakes run while
    PostgreSQL works on the next one. A submitter that leads its own batch
    (in its socket's reader) leads that one alone; so under gevent a batch
    that does not pause (public messages) is led by a greenlet of its own
    (``detach``): its sender's socket reads on, and the chain goes on past
    it. Under eventlet such batches are led by a task already
    (``_defer_for``). Twin ladders of room fan-out on PostgreSQL under
    gevent, this against the build before (``python -m bench.twin --worker
    gevent --a-kind chatroom --a <before> --a-store postgresql --b <this>
    --b-store postgresql --scenarios fanout --rounds 3``, 2026-12-08):
    1.192, 1.001 and 0.844; a scratch build of the same idea 1.004, 1.301
    and 1.186, with two rounds of five cut short by a stall at 40 messages
    a second (bench/README.md, "What it found").
    """

    def __init__(
        self,
        server,
        presence,
        limits,
        store,
        max_length,
        app_context,
        delivery=None,
        offline_grace=0,
        commit_window=0,
        gather_public=False,
        overlap=False,
    ):
        # The python-socketio server of this app (not the module-level SocketIO,
        # which a later create_app rebinds), for emits outside any handler.
        self.server = server
        self.presence = presence
        self.limits = limits
        self.store = store
        self.max_length = max_length
        self.delivery = delivery or threading.Lock()
        self.offline_grace = offline_grace
        self._leaving = {}  # user id -> token of the offline notice waiting out the grace period
        self._leaving_lock = threading.Lock()
        self._commits = GroupCommit(
            self._store_and_deliver,
            self.delivery,
            pause=_pause_for(server),
            spawn=_spawn_for(server, app_context),
            window=_window_for(store, commit_window, gather_public),
            defer=_defer_for(server, app_context),
            overlap=(self._begin, self._end, self._deliver_stored) if overlap else None,
            detach=overlap and server.async_mode == "gevent",
        )

    def arrive(self, user, sid):
        """Record a new socket; ``edge`` says others should hear ``online``.

        A user whose last socket closed less than ``offline_grace`` seconds ago
        (a page refresh: browsers close the old socket before the new page
        connects) is back before anyone heard they left: no notice either way.
        """
        change = self.presence.connect(user, sid)
        if change.edge:
            with self._leaving_lock:
                returning = self._leaving.pop(user.id, None) is not None
            if returning:
                change = dataclasses.replace(change, edge=False)
        return change

    def leave(self, sid):
        """Forget a closed socket; announce ``offline`` when it was its user's last.

        The notice waits ``offline_grace`` seconds and is dropped if the user
        reconnects meanwhile (see ``arrive``).
        """
        change = self.presence.disconnect(sid)
        if change is None or not change.edge:
            return
        if self.offline_grace <= 0:
            self.announce_offline(change.user, change.count)
            return
        token = object()
        with self._leaving_lock:
            self._leaving[change.user.id] = token
        self.server.start_background_task(self._offline_after_grace, change.user, token)

    def _offline_after_grace(self, user, token):
        self.server.sleep(self.offline_grace)
        with self._leaving_lock:
            if self._leaving.get(user.id) is not token:
                return  # back in time
            del self._leaving[user.id]
        try:
            if self.presence.find(user.name) is not None:
                return  # back through another process
            count = self.presence.count()
        except PresenceUnavailable:
            return  # the presence loop announces it once Redis is back
        self.announce_offline(user, count)

    def announce_offline(self, user, count):
        """Tell every socket, on every process, that ``user`` went offline."""
        notice = {"user": user.name, "at": iso(), "count": count}
        self.server.emit("offline", notice, namespace=NAMESPACE)

    def speaker(self, sid):
        """The user behind ``sid``, as recorded at connect; never what the client claims."""
        user = self.presence.user_of(sid)
        if user is None:
            raise ChatError("bad_request", "This socket is not connected to the chat.")
        return user

    def resolve(self, target):
        """Return ``(recipient, online)``: None for everyone, else the user ``target`` names (any case)."""
        if target.casefold() == EVERYONE:
            return None, True
        try:
            user = self.presence.find(target)
        except PresenceUnavailable:
            user = None  # while Redis is away, a private message is stored as for an offline user
        if user is not None:
            return user, True
        try:
            registered = User.find(target)
        except SQLAlchemyError:
            db.session.rollback()
            raise unavailable() from None
        if registered is None:
            raise ChatError("no_such_user", f"There is no user called {target!r}.")
        return OnlineUser(registered.id, registered.username), False

    def post(self, sender, sid, payload, reply):
        """Accept a ``say`` from socket ``sid``: validate, limit, store, deliver; return the ack.

        A repeated ``cid`` returns the first ack with ``duplicate`` and neither
        stores nor delivers again. A private message to an offline user is
        stored (``queued``) and reaches them in their history when they next
        connect. A message that joins a batch in progress returns ``PENDING``
        at once, and its ack goes to ``reply`` once its batch is stored and
        delivered.
        """
        target, text = read_say(payload, self.max_length)
        cid = read_cid(payload)
        recipient, online = self.resolve(target)
        if not self.limits.allow_message(sender.id):
            # A retry of a message already stored is answered as such, limit or not.
            earlier = self.store.find_by_cid(sender.id, cid) if cid is not None else None
            if earlier is not None:
                return _ack(earlier, duplicate=True)
            raise ChatError("rate_limited", "You are sending messages too fast; wait a moment.")
        draft = Draft(sender, recipient, text, cid=cid, queued=not online)
        outcome = self._commits.submit((draft, sid), lambda outcome: reply(_ack_for(outcome)))
        return PENDING if outcome is PENDING else _ack_for(outcome)

    def _store_and_deliver(self, batch):
        """Store a batch of ``(draft, sid)`` in one transaction, then deliver what was stored, in id order.

        Runs under the delivery lock (see ``GroupCommit``); returns one outcome per item.
        """
        outcomes = self.store.add_many([draft for draft, _sid in batch])
        self._deliver_stored(batch, outcomes)
        return outcomes

    def _begin(self, batch):
        """Send a batch of ``(draft, sid)`` to the store, its answer taken by ``_end`` (``overlap``)."""
        return self.store.begin([draft for draft, _sid in batch])

    def _end(self, batch, sent):
        """The outcomes of a batch ``_begin`` sent, once the store has answered."""
        return self.store.end([draft for draft, _sid in batch], sent)

    def _deliver_stored(self, batch, outcomes):
        """Deliver the stored messages of a batch of ``(draft, sid)``, in id order."""
        stored = [
            (message, draft, sid)
            for (draft, sid), message in zip(batch, outcomes, strict=True)
            if not isinstance(message, Exception)
        ]
        for message, draft, sid in sorted(stored, key=lambda item: item[0]["id"]):
            self.deliver(message, draft.sender, draft.recipient, sid)

    def deliver(self, message, sender, recipient, sid):
        """Emit a stored message to everyone but socket ``sid``, or to both people's rooms but it."""
        to = EVERYONE_ROOM if recipient is None else [personal_room(recipient.id), personal_room(sender.id)]
        self.server.emit("say", message, to=to, skip_sid=sid, namespace=NAMESPACE)

    def join(self, user, since, admit):
        """Hand ``admit`` a connecting socket's history; it sends it and joins the rooms.

        With ``since``: every visible message after it (at most CATCH_UP_MAX;
        ``more`` when cut short); else the latest HISTORY_PAGE.
        """
        with self.delivery:
            if since is None:
                messages, more = self.store.latest(user.id, HISTORY_PAGE)
            else:
                messages, more = self.store.since(user.id, since, CATCH_UP_MAX)
            admit({"messages": messages, "more": more})

    def history(self, user, payload):
        """Answer a ``history`` request: a page of older (or, with ``after``, newer) messages."""
        before, after, limit = read_history_request(payload)
        if after is not None:
            messages, more = self.store.since(user.id, after, limit)
        else:
            messages, more = self.store.latest(user.id, limit, before=before)
        return {"ok": True, "messages": messages, "more": more}

    def typing(self, sender, payload):
        """Return ``(notice, recipient)`` for a typing relay, or None to drop it quietly.

        Unknown or offline targets, bad payloads and a second notice within a
        second are all dropped: typing notices carry no acknowledgement.
        """
        try:
            target = read_target(payload)
            recipient = None if target.casefold() == EVERYONE else self.presence.find(target)
        except (ChatError, PresenceUnavailable):
            return None
        if recipient is None and target.casefold() != EVERYONE:
            return None
        if not self.limits.allow_typing(sender.id):
            return None
        notice = {"from": sender.name, "to": recipient.name if recipient else EVERYONE}
        return notice, recipient

    def disconnect_user(self, user_id):
        """Close every socket of ``user_id``, on any process (on logout)."""
        try:
            sids = self.presence.sids_of(user_id)
        except PresenceUnavailable:
            log.warning("logout: presence unavailable, sockets of user %s left open", user_id)
            return
        for sid in sids:
            self.server.disconnect(sid, namespace=NAMESPACE)


def _pause_for(server):
    """How a batch's leader lets other sockets join it: ``pause(waited, window)`` (``GroupCommit``).

    When it pauses, and for how long a window: ``_window_for``. Under
    gevent and threading; under eventlet no leader pauses, a task starts
    at the end of the pause instead (``_defer_for``, and below).

    With a ``window`` (seconds; ``CHAT_COMMIT_WINDOW_MS``, 10 ms by default)
    the leader sleeps until its own message has waited that long (under
    eventlet, the batch's task starts at the end of the first poll after
    that: below), and every message handed in meanwhile joins its transaction.
    A lone private message is delivered and acknowledged that much later (at
    most 10 ms, which nobody reading a chat notices), and only while windows
    gather: one that found nobody is followed by seven batches without
    (``groupcommit.PROBE_EVERY``). A leader whose message already waited out
    the previous batch does not sleep at all. Sleeping the whole window
    after every batch, as first built, made a busy room's latency grow
    with its load: each batch waited the window plus the batch before it.
    One pair of ladders (``python -m bench.run --servers
    bare-gevent,chatroom-gevent-postgresql --scenarios private``,
    2026-12-06), whole window against the window from submission: p99 20.0
    against 14.6 ms at 2,000 private messages a second, 32.3 against 24.6 at
    4,000.
    Measured with ``python -m bench.paired`` (2026-12-04, eventlet, SQLite,
    600 private messages/s, 4 rounds, median CPU against no window): 0.925
    with 2 ms, 0.862 with 5 ms, 0.824 with 10 ms; under gthread at 300 a
    second, 0.903 with 10 ms. The pause below gathers only the messages
    already read (about 1.1 to a transaction even at 2,000 a second), and a
    transaction of one cost the server about 140 µs of its 430 to 650 per
    private message (py-spy, ``bench.run --fixed 1500 --profile``: the
    INSERT's ``execute`` 42 µs, the commit 27, checkpoints 13, against 32 to
    38 µs for the whole transaction in a process doing nothing else).

    Without a window (0) the pause lasts until the sockets read in the same
    pass of the event loop have handed in their messages, and no longer.

    Under gevent nothing else runs until the leader yields, and ``sleep(0)``
    is one callback: the sockets whose messages were read in the same pass
    of the event loop run and join its batch (1.2 to 1.7 messages on average
    over a private-message ladder; private messages topped out at 5,647 a
    second with the pause, 4,727 without, the same afternoon).

    Under eventlet the batch is led from the end of a poll (``afterpoll``):
    the first one that ends once its window is over (at once, without a
    window), after the hub has run every socket that poll found ready. So the
    batch holds what that poll read, and its writers send in the next round's
    timers, as the floor's writers do for a message its handler relayed in
    the poll. First the leader itself waited there, then a task started there
    leads it (``_defer_for``). Resumed from a timer instead (the window's ``sleep``, or
    ``sleep(-1)`` without a window, which fired ahead of the writers woken
    before it), the leader delivered among a round's timers and its writers
    sent in the round after: a round later than the floor's, and near
    saturation a round lasts tens of milliseconds. Three alternating pairs of
    ladders (``python -m bench.run --servers 'bare-eventlet,chatroom-eventlet$'
    --scenarios private``, 2026-12-07, Chatroom on SQLite): 3,622, 3,633 and
    3,632 private messages a second waiting for the poll, 3,072, 3,349 and
    3,348 after the window's sleep (the floor 3,667 to 4,324), the leader
    waiting for the poll itself. (``sleep(0)``,
    a timer due now, had resumed the leader only after every greenlet woken
    before it, under fan-out hundreds of writers.)

    Under threading (without a window) the other sockets run meanwhile
    anyway, and ``time.sleep(0)`` would cost every message a system call: no pause.
    """
    gevent = server.async_mode == "gevent"

    def pause(waited, window):
        if window <= 0:
            if gevent:
                server.sleep(0)
        elif waited < window:
            server.sleep(window - waited)

    return pause


def _window_for(store, commit_window, gather_public=False):
    """How long a batch led by a ``(draft, sid)`` should pause to gather others, or None (``GroupCommit``).

    A private message to a store with a cost per transaction: the commit
    window. Private messages on SQLite under eventlet, 2026-11-28: 2,370 and
    2,377 a second with no pause (batches of one), 3,993 and 3,644 with it.
    A message to everyone: no pause, except with ``gather_public``. Its
    deliveries, one per socket in the room, cost far more than a
    transaction, and a pause before it let every writer run with the one
    packet it held rather than with several (``groupcommit``'s docstring).
    On PostgreSQL public messages gathered for a while with the window (each
    transaction waits for the server, and the writers ran then anyway).
    Once sockets no longer waited for their batch (``acks``), what arrived
    during a round trip joined the next batch without a pause, and the
    window only added its 10 ms to every message and sent the room its
    deliveries in bursts: room fan-out on PostgreSQL reached 48,441 and
    48,602 deliveries/s under eventlet and 40,731 and 34,035 under gevent
    with it, 57,998 and 68,789 without (``python -m bench.run --servers
    chatroom-eventlet-postgresql,chatroom-gevent-postgresql --scenarios
    fanout``, 2026-12-07). Nor with the benchmark's store that stores
    nothing.

    ``gather_public`` (under eventlet on PostgreSQL, set by ``create_app``):
    public messages gather too, without a window: those read in the same
    poll of the event loop go in one batch, taken at the end of that poll
    by a task of its own (``_defer_for``), so the readers go on meanwhile
    and the writers they woke have not run yet. There every transaction
    waits a pass of the event loop for PostgreSQL's answer whatever its
    size, and on its own a public message led its batch, alone, from
    whichever socket read it. At a fixed 480 fan-out messages a second
    (``python -m bench.run --servers chatroom-eventlet-postgresql
    --scenarios fanout --fixed 480 --step-seconds 10``, three interleaved
    runs, 2026-12-07, scratch switches): p50 12.9, 12.1 and 11.5 ms
    gathering against 30.3, 14.7 and 16.2 without, p99 49.6, 39.4 and 28.2
    against 62.5, 41.2 and 37.9, the server's core 93.3 to 93.9% busy
    against 96.0 to 97.1. Holding the worker for the answer as well (up to
    2 ms with the real ``poll``, a third switch) did no better: p50 16.3,
    18.1 and 8.3 ms. Not measured on SQLite, where a public message costs
    one synchronous commit and fan-out already matched the bare floor.
    """
    if not store.pays_per_transaction:
        return lambda _item: None
    public = 0.0 if gather_public else None
    return lambda item: public if item[0].recipient is None else commit_window


def _defer_for(server, app_context):
    """Under eventlet: how a batch that pauses is led by a task started at the end of its pause; else None.

    The socket whose message starts the batch goes on reading at once, its
    ack sent once the batch is stored (``acks``). Paused in that socket's
    reader instead, as first built, the leader read one frame per pass of
    the event loop from its own socket, and led the next batch as soon as
    it read the next one: a busy sender fell behind for good. With public
    messages gathered (``_window_for``), at 600 fan-out messages a second
    (5 senders) a fifth of the messages were read more than 100 ms late, and
    p99 reached 0.7 to 3.2 s (one sender's socket; a scratch count of
    ``cid`` times against arrival, 2026-12-07).
    """
    if server.async_mode != "eventlet":
        return None
    from . import afterpoll

    afterpoll.install()  # before the hub polls for the sockets (see ``install``)

    def defer(until, function, *args):
        afterpoll.spawn_after_poll(until, _in_context, app_context, function, args)

    return defer


def _spawn_for(server, app_context):
    """How the group commit starts a task that leads a batch: the async mode's own, in an app context."""

    def spawn(function, *args):
        server.start_background_task(_in_context, app_context, function, args)

    return spawn


def _in_context(app_context, function, args):
    """Run ``function(*args)`` in an application context (a task's body: ``_spawn_for``, ``_defer_for``)."""
    with app_context():
        function(*args)


def _ack_for(outcome):
    """The ack of a message whose batch is done: stored, a repeat, refused, or failed."""
    if isinstance(outcome, DuplicateMessage):
        return _ack(outcome.message, duplicate=True)
    if isinstance(outcome, ChatError):
        return outcome.ack()
    if isinstance(outcome, BaseException):  # logged by the batch's leader
        return INTERNAL_ERROR.ack()
    return _ack(outcome)


def _ack(message, duplicate=False):
    ack = {"ok": True, "id": message["id"], "at": message["at"]}
    if duplicate:
        ack["duplicate"] = True
    return ack
