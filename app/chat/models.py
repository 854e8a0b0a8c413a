"""Stored messages."""

from datetime import UTC, datetime

from ..extensions import db


def utcnow():
    """The current UTC time as a naive datetime, the form every database stores alike."""
    return datetime.now(UTC).replace(tzinfo=None)


class Message(db.Model):
    """One accepted message; ``recipient_id`` is None for a message to everyone."""

    __tablename__ = "messages"
    # AUTOINCREMENT: SQLite never reuses an id, so ids only ever grow.
    __table_args__ = (
        # A client's retry of one message (same cid) can only ever be stored once.
        db.Index("uq_messages_sender_cid", "sender_id", "cid", unique=True),
        {"sqlite_autoincrement": True},
    )

    id = db.Column(db.Integer, primary_key=True)
    # Indexed by uq_messages_sender_cid, whose leading column it is.
    sender_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    recipient_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=True, index=True)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # The sender's own id for this message, to recognise retries (at most 64 characters).
    cid = db.Column(db.String(64), nullable=True)
    # True when the recipient of a private message had no socket open when it was sent.
    queued = db.Column(db.Boolean, nullable=False, default=False, server_default=db.false())
