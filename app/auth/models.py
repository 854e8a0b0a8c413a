"""The User account."""

from datetime import UTC, datetime

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .usernames import name_key


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

    def __init__(self, username, password):
        self.username = username
        self.username_key = name_key(username)
        self.set_password(password)

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
