"""The message store: every accepted message is committed here before anyone sees it."""

import itertools
import json
import select as io_select
import threading
from dataclasses import dataclass, field

from sqlalchemy import JSON, bindparam, cast, column, event, func, insert, select, union
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from ..auth.models import User
from ..extensions import db
from . import checkpoints
from .models import Message, utcnow
from .protocol import EVERYONE, ChatError, iso


def unavailable():
    """The error for a database that does not answer: nothing was stored or sent."""
    return ChatError("unavailable", "The message store is unavailable; nothing was sent. Try again.")


class DuplicateMessage(Exception):
    """The sender already used this cid: ``message`` is the one stored then."""

    def __init__(self, message):
        super().__init__(message["id"])
        self.message = message


@dataclass(frozen=True, slots=True)
class Draft:
    """A message accepted for storing: ``recipient`` None means everyone."""

    sender: object  # presence.OnlineUser: id and name
    recipient: object
    body: str
    cid: str | None = None
    queued: bool = False
    created_at: object = field(default_factory=utcnow)

    def row(self):
        """The values of its row in ``messages``."""
        return {
            "sender_id": self.sender.id,
            "recipient_id": self.recipient.id if self.recipient else None,
            "body": self.body,
            "created_at": self.created_at,
            "cid": self.cid,
            "queued": self.queued,
        }

    def sqlite_values(self):
        """The values of its row as sqlite3 binds them, in ``_COLUMNS`` order.

        As SQLAlchemy's SQLite types bind them (the time as ``YYYY-MM-DD
        HH:MM:SS.ffffff``, the flag as 0 or 1; ``tests/test_store.py``
        compares the two), without a dict and a processor call per value.
        """
        return (
            self.sender.id,
            self.recipient.id if self.recipient else None,
            self.body,
            self.created_at.isoformat(" ", "microseconds"),
            self.cid,
            1 if self.queued else 0,
        )

    def wire(self, message_id):
        """The stored message as sockets receive it."""
        recipient_name = self.recipient.name if self.recipient else None
        return _wire_form(
            message_id, self.sender.name, recipient_name, self.body, self.created_at, self.queued
        )


class MessageStore:
    """Messages in the SQL database (SQLite by default, PostgreSQL when configured).

    Every method raises ChatError("unavailable") when the database fails
    (locked past its busy timeout, disk full, unreachable), after rolling back,
    so the caller can answer the client and keep serving.
    """

    # Each transaction has a cost of its own: messages stored together cost less each.
    pays_per_transaction = True

    def __init__(self):
        self._insert = None  # the compiled INSERT, once the engine is known

    def add_many(self, drafts):
        """Commit several messages in one transaction; return one outcome per draft, in order.

        An outcome is the message in wire form, or the exception its sender
        should hear: DuplicateMessage for a used cid, ChatError("unavailable").
        One repeated cid fails the whole transaction; the drafts are then
        stored one by one, so only the repeat is refused.
        """
        if len(drafts) == 1:
            return [self._add_or_error(drafts[0])]
        return self._outcomes(drafts, lambda inserter: inserter.insert(drafts))

    def _outcomes(self, drafts, stored_ids):
        """The outcomes of a batch whose ids ``stored_ids(inserter)`` gives (``add_many``, ``end``)."""
        inserter = self._inserter()
        try:
            ids = stored_ids(inserter)
        except inserter.errors.IntegrityError:
            return [self._add_or_error(draft) for draft in drafts]
        except (inserter.errors.Error, SQLAlchemyError):  # the driver's, or the pool's (a checkout timeout)
            return [unavailable()] * len(drafts)
        return [draft.wire(message_id) for draft, message_id in zip(drafts, ids, strict=True)]

    def begin(self, drafts):
        """Send a batch's INSERT and return at once (PostgreSQL only); ``end`` takes its outcomes.

        Returns what ``end`` needs: None, or the error that kept the batch
        from being sent (nothing of it was stored).
        """
        inserter = self._inserter()
        try:
            inserter.send(drafts)
        except (inserter.errors.Error, SQLAlchemyError) as error:
            return error
        return None

    def end(self, drafts, unsent):
        """The outcomes of the batch ``begin`` sent, as ``add_many`` gives them, once PostgreSQL answers."""
        if unsent is not None:
            return [unavailable()] * len(drafts)
        return self._outcomes(drafts, lambda inserter: inserter.receive())

    def _add_or_error(self, draft):
        try:
            return self.add(draft)
        except (DuplicateMessage, ChatError) as error:
            return error

    def add(self, draft):
        """Commit one message and return it in wire form; DuplicateMessage for a used cid."""
        inserter = self._inserter()
        try:
            (message_id,) = inserter.insert([draft])
        except inserter.errors.IntegrityError:
            # The sender used this cid before: a retry of a stored message.
            existing = self.find_by_cid(draft.sender.id, draft.cid) if draft.cid else None
            if existing is None:
                raise unavailable() from None
            raise DuplicateMessage(existing) from None
        except (inserter.errors.Error, SQLAlchemyError):  # the driver's, or the pool's (a checkout timeout)
            raise unavailable() from None
        return draft.wire(message_id)

    def _inserter(self):
        if self._insert is None:
            self._insert = _Inserter(db.engine)
        return self._insert

    def find_by_cid(self, sender_id, cid):
        """The id and time of the sender's message with this cid, or None."""
        try:
            row = db.session.execute(_BY_CID, {"sender_id": sender_id, "cid": cid}).first()
        except SQLAlchemyError:
            db.session.rollback()
            raise unavailable() from None
        return None if row is None else {"id": row.id, "at": iso(row.created_at)}

    def since(self, user_id, after, limit):
        """Messages visible to ``user_id`` with id > ``after``, oldest first, and whether more remain."""
        query = _visible(user_id, limit + 1, after=after).order_by(Message.id)
        rows = self._run(query)
        return rows[:limit], len(rows) > limit

    def latest(self, user_id, limit, before=None):
        """The newest ``limit`` visible messages (older than ``before`` if given), oldest first."""
        rows = self._run(_visible(user_id, limit + 1, before=before).order_by(Message.id.desc()))
        return rows[:limit][::-1], len(rows) > limit

    @staticmethod
    def _run(query):
        try:
            return [_wire(*row) for row in db.session.execute(query)]
        except SQLAlchemyError:
            db.session.rollback()
            raise unavailable() from None


# Statements built once, with bound parameters: they run for every message, and
# building them (new aliases above all) costs more than running them.
_COLUMNS = ("sender_id", "recipient_id", "body", "created_at", "cid", "queued")
_INSERT_ROW = insert(Message).values({name: bindparam(name) for name in _COLUMNS})
_INSERT = _INSERT_ROW.returning(Message.id)
# PostgreSQL: a whole batch in one statement, its rows one JSON array (``_Inserter``).
_BATCH_ROWS = (
    func.json_to_recordset(cast(bindparam("rows"), JSON))
    .table_valued(*(column(name, Message.__table__.c[name].type) for name in _COLUMNS))
    .render_derived(name="batch", with_types=True)
)
_INSERT_BATCH = (
    insert(Message)
    .from_select(_COLUMNS, select(*(_BATCH_ROWS.c[name] for name in _COLUMNS)))
    .returning(Message.id)
)
_BY_CID = select(Message.id, Message.created_at).where(
    Message.sender_id == bindparam("sender_id"), Message.cid == bindparam("cid")
)
_SENDER, _RECIPIENT = aliased(User), aliased(User)
_MESSAGES_WITH_NAMES = (
    select(Message, _SENDER.username, _RECIPIENT.username)
    .join(_SENDER, Message.sender_id == _SENDER.id)
    .outerjoin(_RECIPIENT, Message.recipient_id == _RECIPIENT.id)
)


def _visible(user_id, count, before=None, after=None):
    """The first ``count`` messages visible to ``user_id`` below ``before`` (newest first) or above ``after``.

    Visible: public, or private with the user as sender or recipient, never
    anyone else's. Asked as one ``WHERE`` with ``OR``, SQLite (``MULTI-INDEX OR``)
    gathered every public message before sorting and cutting: 60 to 77 ms per
    connect with 200,000 messages stored, 90% of them public (2026-12-04),
    under the delivery lock. So each kind is asked apart, at most ``count``
    ids each, and only those are read with their names: 0.8 ms for a user who
    sent nothing. Public and received messages stop after ``count`` entries
    of the recipient index, which is in id order; a user's own private
    messages are sorted from the unique ``(sender_id, cid)`` index, which is
    not, so that part grows with what the user sent (18.8 ms for a user who
    had sent half of those 200,000). The caller orders the rows (descending
    for ``before``, ascending for ``after``); the ``LIMIT`` here keeps the
    first ``count`` of them.
    """
    newest_first = after is None

    def first(*conditions):
        ids = select(Message.id).where(*conditions)
        if before is not None:
            ids = ids.where(Message.id < before)
        if after is not None:
            ids = ids.where(Message.id > after)
        ids = ids.order_by(Message.id.desc() if newest_first else Message.id).limit(count)
        return select(ids.subquery().c.id)

    kinds = union(
        first(Message.recipient_id.is_(None)),
        first(Message.recipient_id == user_id),
        first(Message.sender_id == user_id, Message.recipient_id.is_not(None)),
    ).subquery()
    return _MESSAGES_WITH_NAMES.where(Message.id.in_(select(kinds.c.id))).limit(count)


class _Inserter:
    """The message INSERT, run on a DB-API connection of the engine's pool.

    The hot path of the store, by hand: through SQLAlchemy's Core, storing a
    message alone cost about 330 µs on SQLite, of which sqlite3 itself needs
    about a third; the rest was the execution context, compiled-cache lookups
    and transaction bookkeeping, per statement and per transaction. The
    statement is still SQLAlchemy's, compiled once for the engine's dialect:
    on SQLite ``_INSERT_ROW`` through sqlite3's ``executemany``, each row a
    tuple of the values as SQLAlchemy's types would bind them
    (``Draft.sqlite_values``: so SQLite stores times exactly as the ORM
    does); on PostgreSQL ``_INSERT_BATCH`` once a batch, its rows one JSON
    array (``batched``), either through psycopg's cursor (``insert``) or
    sent and answered apart (``send``, ``receive``: the group commit's
    ``overlap``); ``_INSERT`` once a row elsewhere, its values
    through each column type's own bind processor. The connection
    comes from the engine's pool. Everything else in the store (reads,
    lookups) stays on SQLAlchemy.

    The connection is kept between transactions rather than returned to the
    pool: checking it out and in (with the pool's rollback on return) was
    about a fifth of a stored message's cost on SQLite (cProfile of
    ``bench.store_batches``). Batches are stored one at a time (the group
    commit's leader holds the delivery lock), and ``_lock`` makes sure of it.
    Keeping it means doing what the pool did for it:

    - a connection that fails is invalidated (closed, never reused), except
      after an IntegrityError, which only rolls back;
    - a kept connection found closed (the dialect's own ``is_disconnect``:
      the server restarted, or dropped it while idle) before the commit was
      asked for has stored nothing: the batch is tried once more on a new
      connection, so nobody hears ``unavailable`` for a connection that merely
      went stale. Other errors (a lock held past the busy timeout) are not
      retried, and neither is a failure during the commit, which may have
      happened. On PostgreSQL the statement is its own commit (autocommit,
      ``_connect``), so nothing sent is retried; instead a kept connection is
      first asked, without waiting, whether the server has ended it
      (``_dropped``), and is replaced before anything is sent;
    - ``engine.dispose()`` closes it too (``engine_disposed``).

    ``executemany`` reports no id. The rows' ids follow one another: from
    its first INSERT to its commit a transaction holds SQLite's write lock,
    so no other connection inserts in between, and AUTOINCREMENT gives each
    row the largest id yet plus one. So ``last_insert_rowid()`` after the
    last row tells every id. A row at a time, each with its ``lastrowid``,
    cost the worker's Python a call, a dict and two bind processors per row
    (``_Inserter._parameters`` and ``Draft.row``: 5.6% of py-spy's samples
    of the eventlet worker at 2,600 private messages a second, 2026-12-07).
    At equal load the worker then spent 0.989 (0.970 to 1.005) of the CPU
    it spent before: within the noise (``python -m bench.paired``, 800
    private messages a second, four rounds).

    On an SQLite file the kept connection leaves checkpoints to a native
    thread (``checkpoints.Checkpointer``, started with the first connection),
    keeping SQLite's own only as a backstop.
    """

    def __init__(self, engine):
        dialect = engine.dialect
        # PostgreSQL takes a batch as one statement over a JSON array: psycopg's
        # pipelined executemany of one INSERT per row cost the server 16 to 21 µs of
        # CPU a message at 64 to a transaction, the JSON statement 4.3 (2026-12-06).
        self.batched = dialect.name == "postgresql"
        # On SQLite the new row's id is the cursor's lastrowid, and RETURNING made every
        # INSERT dearer: three interleaved runs of bench.store_batches gave 101-120 µs
        # for a message stored alone with it, 70-79 without (16 to a transaction: 40-45, 32-35).
        self.lastrowid = dialect.name == "sqlite"
        statement = _INSERT_BATCH if self.batched else _INSERT_ROW if self.lastrowid else _INSERT
        compiled = statement.compile(dialect=dialect)
        self.engine = engine
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        # On SQLite the rows go to sqlite3's executemany as tuples (``Draft.sqlite_values``).
        self.sqlite_values = self.lastrowid and self.order == list(_COLUMNS)
        # Each column type's bind processor, for the row-at-a-time statements (``_parameters``).
        self.processors = {}
        for name in () if self.batched else _COLUMNS:
            processor = Message.__table__.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor
        # The driver's exception classes: IntegrityError for a used cid, Error for the rest.
        self.errors = dialect.loaded_dbapi
        self._connection = None
        self._ended = False  # whether PostgreSQL said it ended the kept connection (``_dropped``)
        self._awaiting = False  # whether a statement ``send`` sent awaits ``receive``
        self.raw_sql = None  # the batch INSERT with libpq's $1 for ``send``
        self.checkpointer = None  # on an SQLite file, from the first connection on
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", self.close)

    def insert(self, drafts):
        """Insert ``drafts`` in one transaction and commit; return their ids, in order.

        Raises the driver's own exceptions (or SQLAlchemy's, when no connection can be had).
        """
        with self._lock:
            try:
                return self._insert(drafts)
            except _Stale:
                return self._insert(drafts)  # on a new connection, which is never stale

    def send(self, drafts):
        """Send the INSERT of ``drafts`` (PostgreSQL) without waiting for it; ``receive`` takes the answer.

        One statement in flight at a time, in autocommit: it commits by
        itself. Sent through libpq's asynchronous calls (psycopg's ``pq``
        layer: ``send_query_params``), which psycopg's cursor does not
        offer apart from waiting for the answer. A statement whose answer
        was never taken (a bug upstream) closes the connection rather than
        have the next one read it.
        """
        with self._lock:
            if self._connection is not None and (
                self._awaiting or self._dropped(self._connection.dbapi_connection)
            ):
                self._drop_connection()
            if self._connection is None:
                self._connection = self._connect()
            pgconn = self._connection.dbapi_connection.pgconn
            try:
                if self.raw_sql is None:
                    self.raw_sql = self.sql.replace("%(rows)s", "$1").encode()
                rows = json.dumps([draft.row() for draft in drafts], default=_json_time)
                pgconn.send_query_params(self.raw_sql, [rows.encode()])
                self._awaiting = True
                while pgconn.flush():  # the rest did not fit the socket's buffer
                    _wait(pgconn.socket, write=True)
            except BaseException:
                self._drop_connection()
                raise

    def receive(self):
        """Wait for the answer to ``send`` (cooperatively under eventlet and gevent); the ids, in order.

        Raises the driver's IntegrityError for a used cid (the connection
        stays: the statement failed alone), another of its errors otherwise
        (the connection is closed).
        """
        with self._lock:
            if self._connection is None or not self._awaiting:  # closed meanwhile (``close``)
                raise self.errors.OperationalError("the connection closed before its answer came")
            pgconn = self._connection.dbapi_connection.pgconn
            encoding = self._connection.dbapi_connection.info.encoding
            results = []
            try:
                pgconn.consume_input()
                while pgconn.is_busy():
                    _wait(pgconn.socket, write=False)
                    pgconn.consume_input()
                while (result := pgconn.get_result()) is not None:
                    results.append(result)
            except BaseException:
                self._drop_connection()
                raise
            self._awaiting = False
        answered = [result for result in results if result.status == self.errors.pq.ExecStatus.TUPLES_OK]
        if len(answered) == 1 == len(results):
            # Ids come from the sequence in the order the rows were inserted, the array's.
            return sorted(int(answered[0].get_value(row, 0)) for row in range(answered[0].ntuples))
        failed = [result for result in results if result not in answered]  # a session ended: several
        if failed:
            error = self.errors.errors.error_from_result(failed[0], encoding=encoding)
        else:
            error = self.errors.OperationalError(f"{len(results)} answers to one INSERT")
        if not isinstance(error, self.errors.IntegrityError):
            with self._lock:
                self._drop_connection()
        raise error

    def _drop_connection(self):
        """Close the kept connection (failed, stale, or holding an answer nobody took); held: ``_lock``."""
        connection, self._connection = self._connection, None
        self._awaiting = False
        if connection is not None:
            connection.invalidate()

    def close(self, *_engine):
        """Close the kept connection and stop its checkpoints; the next insert opens new ones."""
        with self._lock:
            connection, self._connection = self._connection, None
            checkpointer, self.checkpointer = self.checkpointer, None
        if connection is not None:
            connection.invalidate()
        if checkpointer is not None:
            checkpointer.stop()

    def _insert(self, drafts):
        kept = self._connection is not None
        if kept and self.batched and self._dropped(self._connection.dbapi_connection):
            self._drop_connection()
            kept = False
        if not kept:
            self._connection = self._connect()
        connection = self._connection
        cursor, committing = None, False
        try:
            cursor = connection.cursor()
            if self.batched:
                committing = True  # one statement, in autocommit: sending it may commit it
                rows = [draft.row() for draft in drafts]
                cursor.execute(self.sql, {"rows": json.dumps(rows, default=_json_time)})
                # Ids come from the sequence in the order the rows were inserted, the array's.
                ids = sorted(row[0] for row in cursor.fetchall())
            elif self.sqlite_values:
                # One statement run for every row, in C; the rows' ids follow one another
                # (the class's docstring), so the last one tells them all.
                if len(drafts) == 1:
                    cursor.execute(self.sql, drafts[0].sqlite_values())
                    ids = [cursor.lastrowid]
                else:
                    cursor.executemany(self.sql, [draft.sqlite_values() for draft in drafts])
                    (last,) = cursor.execute("SELECT last_insert_rowid()").fetchone()
                    ids = list(range(last - len(drafts) + 1, last + 1))
            else:
                ids = []
                for draft in drafts:
                    cursor.execute(self.sql, self._parameters(draft.row()))
                    ids.append(cursor.lastrowid if self.lastrowid else cursor.fetchone()[0])
            cursor.close()
            committing = True
            connection.commit()
        except self.errors.IntegrityError:
            connection.rollback()
            raise
        except BaseException as error:
            stale = (
                kept
                and not committing
                and isinstance(error, self.errors.Error)
                and self.engine.dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            )
            self._drop_connection()
            if stale:
                raise _Stale(error) from error
            raise
        return ids

    def _dropped(self, dbapi_connection):
        """Whether PostgreSQL has ended this idle connection (a restart, an idle timeout), asked at once.

        libpq reads, without blocking, what the server sent meanwhile: when it
        ended the session, a FATAL notice (which ``_connect``'s handler
        records) and then the end of the stream, which may come a little
        later. Costs about a microsecond.
        """
        try:
            dbapi_connection.pgconn.consume_input()
            dbapi_connection.pgconn.notifies()  # parses what was read, notices included
        except self.errors.OperationalError:
            return True
        return self._ended or dbapi_connection.closed or dbapi_connection.broken

    def _on_notice(self, diagnostic):
        if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
            self._ended = True

    def _connect(self):
        """A connection of the pool; on an SQLite file, with checkpoints left to a native thread.

        On PostgreSQL in autocommit: the batch is one statement, which
        commits by itself, in one round trip. In a transaction psycopg sends
        BEGIN, the INSERT and COMMIT each in a round trip of its own, and
        under load every round trip waits for a full pass of the event loop.
        """
        connection = self.engine.raw_connection()
        if self.batched:
            connection.dbapi_connection.autocommit = True
            self._ended = False
            connection.dbapi_connection.add_notice_handler(self._on_notice)
        path = checkpoints.database_file(connection.dbapi_connection)
        if path is not None:
            connection.dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={checkpoints.BACKSTOP_PAGES}")
            if self.checkpointer is None or not self.checkpointer.running:
                self.checkpointer = checkpoints.Checkpointer(path)
        return connection

    def _parameters(self, row):
        """The row's values as the driver takes them, in a new dict or list (a retry starts from ``row``)."""
        processors = self.processors
        values = {
            name: processors[name](value) if name in processors else value for name, value in row.items()
        }
        return values if self.order is None else [values[name] for name in self.order]


def _wait(socket, write):
    """Wait until PostgreSQL's socket is ready: ``poll`` where ``select`` has it, ``select`` elsewhere.

    Under gevent ``select.poll`` is gevent's own, which lets the other
    greenlets run; eventlet removes it and makes ``select.select``
    cooperative; under threads the real ``poll`` has no limit on the
    descriptor's number, as ``select`` has (1,024).
    """
    if hasattr(io_select, "poll"):
        poller = io_select.poll()
        poller.register(socket, io_select.POLLOUT if write else io_select.POLLIN)
        poller.poll()
    elif write:
        io_select.select([], [socket], [])
    else:
        io_select.select([socket], [], [])


class _Stale(Exception):
    """The kept connection was found closed before the commit was asked for: nothing was stored."""


def _json_time(value):
    """A row's ``created_at`` in a batch's JSON: ISO 8601, as the column's type reads it back."""
    return value.isoformat()


def _wire(message, sender_name, recipient_name):
    """A message row, with its people's names, in wire form."""
    return _wire_form(
        message.id, sender_name, recipient_name, message.body, message.created_at, message.queued
    )


def _wire_form(message_id, sender_name, recipient_name, body, created_at, queued):
    """A message in the shape of a live ``say`` (plus ``queued`` when set); no recipient is everyone."""
    wire = {
        "id": message_id,
        "from": sender_name,
        "to": recipient_name or EVERYONE,
        "msg": body,
        "at": iso(created_at),
    }
    if queued:
        wire["queued"] = True
    return wire


class UnstoredMessages:
    """Benchmark only (``CHAT_BENCH_NO_STORE=1``): ids and times without a database write.

    Lets the benchmark measure what persistence costs. Nothing is kept: history
    is empty and a repeated cid is not recognised. Never use it for real.
    """

    pays_per_transaction = False  # nothing to gather messages for

    def __init__(self):
        self._ids = itertools.count(1)

    def add_many(self, drafts):
        """Return the messages in wire form with fresh ids, storing nothing."""
        return [draft.wire(next(self._ids)) for draft in drafts]

    def find_by_cid(self, sender_id, cid):
        """Nothing is stored, so no cid is ever known."""
        return None

    def since(self, user_id, after, limit):
        """No history."""
        return [], False

    def latest(self, user_id, limit, before=None):
        """No history."""
        return [], False
