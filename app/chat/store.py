"""The message store: every accepted message is written here before anyone sees it."""

from ..extensions import db
from .models import Message


class MessageStore:
    """Messages in the SQL database (SQLite by default, PostgreSQL when configured)."""

    def add(self, sender_id, recipient_id, body):
        """Commit a message and return it with its id and time set."""
        message = Message(sender_id=sender_id, recipient_id=recipient_id, body=body)
        db.session.add(message)
        db.session.commit()
        return message
