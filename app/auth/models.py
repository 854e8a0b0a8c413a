"""The User account."""

import secrets
from datetime import UTC, datetime

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .usernames import name_key


def new_session_token():
    """A fresh random session token."""
    return secrets.token_hex(16)


def _utcnow():
    return datetime.now(UTC).replace(tzinfo=None)


class User(UserMixin, db.Model):
    """A registered person. ``username`` is shown; ``username_key`` makes it unique."""

    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32), nullable=False)
    # Casefolded names can be longer than the name itself ("ß" -> "ss").
    username_key = db.Column(db.String(128), nullable=False, unique=True)
    password_hash = db.Column(db.String(256), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=_utcnow)
    # Part of the id in every session and remember cookie; a new one on logout
    # makes every cookie issued before it worthless (cookies are signed, not stored).
    session_token = db.Column(db.String(32), nullable=False, default=new_session_token, server_default="")

    def __init__(self, username, password):
        self.username = username
        self.username_key = name_key(username)
        self.session_token = new_session_token()
        self.set_password(password)

    def get_id(self):
        """Flask-Login: what the cookies carry, ``<id>:<session token>``."""
        return f"{self.id}:{self.session_token}"

    def end_sessions(self):
        """Invalidate every session and remember cookie of this user, in any browser."""
        self.session_token = new_session_token()

    def set_password(self, password):
        """Store a salted hash of ``password``, never the password itself."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password):
        """Tell whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @classmethod
    def find(cls, username):
        """Return the user called ``username`` ignoring case, or None."""
        return db.session.execute(
            db.select(cls).filter_by(username_key=name_key(username))
        ).scalar_one_or_none()

    def __repr__(self):
        return f"<User {self.username!r}>"
