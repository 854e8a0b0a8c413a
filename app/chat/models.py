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
    __table_args__ = {"sqlite_autoincrement": True}

    id = db.Column(db.Integer, primary_key=True)
    sender_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    recipient_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=True, index=True)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
