"""Configuration classes: environment variables with development fallbacks.

``create_app`` picks a class by ``CHAT_ENV`` (``production`` unless told
otherwise, so that a forgotten variable never starts a public server with
development settings). ``instance/config.py`` (git-ignored) may then override
any value.
"""

import os


def _env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name):
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = os.environ.get("SECRET_KEY")
    # None means: the SQLite file ``chat.sqlite3`` in the instance folder.
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    # Run pending migrations when the app starts (creates the schema on a new database).
    CHAT_AUTO_MIGRATE = _env_bool("CHAT_AUTO_MIGRATE", True)
    # Milliseconds a private message waits for others to share its transaction
    # (the group commit's window, app/chat/groupcommit.py); 0: only those read at once.
    CHAT_COMMIT_WINDOW_MS = float(os.environ.get("CHAT_COMMIT_WINDOW_MS", "10"))
    # Seconds a SQLite writer waits for another process's lock before giving up.
    CHAT_SQLITE_BUSY_TIMEOUT = float(os.environ.get("CHAT_SQLITE_BUSY_TIMEOUT", "5"))

    # Set for several server processes: the Socket.IO message queue and the store
    # for presence and rate limits. Unset: everything stays in this process.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Socket.IO's pub/sub channel; default "chatroom-db<N>" from REDIS_URL's database number.
    CHAT_REDIS_CHANNEL = os.environ.get("CHAT_REDIS_CHANNEL") or None
    # Seconds after which a process that stopped heartbeating (killed) loses its users.
    CHAT_PRESENCE_TTL = int(os.environ.get("CHAT_PRESENCE_TTL", "30"))

    # Seconds a user's "offline" waits, so that a page refresh does not announce
    # them leaving and coming back.
    CHAT_OFFLINE_GRACE = float(os.environ.get("CHAT_OFFLINE_GRACE", "2"))

    # Origins, besides the page's own, allowed to open a socket.
    CHAT_ALLOWED_ORIGINS = _env_list("CHAT_ALLOWED_ORIGINS")
    # "COUNT/SECONDS" accepted messages per user; "0" turns the limit off.
    CHAT_RATE_LIMIT = os.environ.get("CHAT_RATE_LIMIT", "20/10")
    CHAT_MAX_MESSAGE_LENGTH = int(os.environ.get("CHAT_MAX_MESSAGE_LENGTH", "2000"))
    # None: chosen from what is serving (see app.serving.detect_async_mode).
    CHAT_ASYNC_MODE = os.environ.get("CHAT_ASYNC_MODE") or None
    # permessage-deflate on websockets: off, since chat frames are small (see app.serving).
    CHAT_WS_COMPRESSION = _env_bool("CHAT_WS_COMPRESSION")
    # Largest Socket.IO packet accepted; a bigger frame closes that connection.
    CHAT_MAX_HTTP_BUFFER_SIZE = 64 * 1024

    # Benchmark only: skip the database write of messages, to measure what it costs.
    CHAT_BENCH_NO_STORE = _env_bool("CHAT_BENCH_NO_STORE")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Set CHAT_SECURE_COOKIES=1 when the site is served over HTTPS.
    SESSION_COOKIE_SECURE = _env_bool("CHAT_SECURE_COOKIES")
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE


class ProductionConfig(Config):
    """Used by ``wsgi.py`` under gunicorn unless CHAT_ENV says otherwise."""

    REQUIRE_SECRET_KEY = True


class DevelopmentConfig(Config):
    """``make run`` / ``flask run`` on a laptop."""

    REQUIRE_SECRET_KEY = False


class TestingConfig(Config):
    """pytest: the fixtures point the database at a temporary file."""

    TESTING = True
    REQUIRE_SECRET_KEY = False
    SECRET_KEY = "test-only-secret-key"


CONFIGS = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}
