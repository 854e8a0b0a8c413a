"""The message store: every accepted message is committed here before anyone sees it."""

import itertools

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import aliased

from ..auth.models import User
from ..extensions import db
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


class MessageStore:
    """Messages in the SQL database (SQLite by default, PostgreSQL when configured).

    Every method raises ChatError("unavailable") when the database fails
    (locked past its busy timeout, disk full, unreachable), after rolling back,
    so the caller can answer the client and keep serving.
    """

    def add(self, sender, recipient, body, cid=None, queued=False):
        """Commit a message and return it in wire form; DuplicateMessage for a used cid."""
        created_at = utcnow()
        values = {
            "sender_id": sender.id,
            "recipient_id": recipient.id if recipient else None,
            "body": body,
            "created_at": created_at,
            "cid": cid,
            "queued": queued,
        }
        try:
            message_id = db.session.connection().execute(_INSERT, values).scalar_one()
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            # The sender used this cid before: a retry of a stored message.
            existing = self.find_by_cid(sender.id, cid) if cid else None
            if existing is None:
                raise unavailable() from None
            raise DuplicateMessage(existing) from None
        except SQLAlchemyError:
            db.session.rollback()
            raise unavailable() from None
        wire = {
            "id": message_id,
            "from": sender.name,
            "to": recipient.name if recipient else EVERYONE,
            "msg": body,
            "at": iso(created_at),
        }
        if queued:
            wire["queued"] = True
        return wire

    def find_by_cid(self, sender_id, cid):
        """The id and time of the sender's message with this cid, or None."""
        query = select(Message.id, Message.created_at).where(
            Message.sender_id == sender_id, Message.cid == cid
        )
        try:
            row = db.session.execute(query).first()
        except SQLAlchemyError:
            db.session.rollback()
            raise unavailable() from None
        return None if row is None else {"id": row.id, "at": iso(row.created_at)}

    def since(self, user_id, after, limit):
        """Messages visible to ``user_id`` with id > ``after``, oldest first, and whether more remain."""
        query = self._visible(user_id).where(Message.id > after).order_by(Message.id).limit(limit + 1)
        rows = self._run(query)
        return rows[:limit], len(rows) > limit

    def latest(self, user_id, limit, before=None):
        """The newest ``limit`` visible messages (older than ``before`` if given), oldest first."""
        query = self._visible(user_id)
        if before is not None:
            query = query.where(Message.id < before)
        rows = self._run(query.order_by(Message.id.desc()).limit(limit + 1))
        return rows[:limit][::-1], len(rows) > limit

    def _visible(self, user_id):
        # Public messages, and private ones this user sent or received: never anyone else's.
        return _MESSAGES_WITH_NAMES.where(
            or_(Message.recipient_id.is_(None), Message.sender_id == user_id, Message.recipient_id == user_id)
        )

    @staticmethod
    def _run(query):
        try:
            return [_wire(*row) for row in db.session.execute(query)]
        except SQLAlchemyError:
            db.session.rollback()
            raise unavailable() from None


# Statements built once, with bound parameters: they run for every message, and
# building them (new aliases above all) costs more than running them.
_INSERT = (
    insert(Message)
    .values(
        {
            column: bindparam(column)
            for column in ("sender_id", "recipient_id", "body", "created_at", "cid", "queued")
        }
    )
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


def _wire(message, sender_name, recipient_name):
    """A stored message in the shape of a live ``say`` (plus ``queued`` when set)."""
    wire = {
        "id": message.id,
        "from": sender_name,
        "to": recipient_name or EVERYONE,
        "msg": message.body,
        "at": iso(message.created_at),
    }
    if message.queued:
        wire["queued"] = True
    return wire


class UnstoredMessages:
    """Benchmark only (``CHAT_BENCH_NO_STORE=1``): ids and times without a database write.

    Lets the benchmark measure what persistence costs. Nothing is kept: history
    is empty and a repeated cid is not recognised. Never use it for real.
    """

    def __init__(self):
        self._ids = itertools.count(1)

    def add(self, sender, recipient, body, cid=None, queued=False):
        """Return the message in wire form with a fresh id, storing nothing."""
        return {
            "id": next(self._ids),
            "from": sender.name,
            "to": recipient.name if recipient else EVERYONE,
            "msg": body,
            "at": iso(),
        }

    def find_by_cid(self, sender_id, cid):
        """Nothing is stored, so no cid is ever known."""
        return None

    def since(self, user_id, after, limit):
        """No history."""
        return [], False

    def latest(self, user_id, limit, before=None):
        """No history."""
        return [], False
