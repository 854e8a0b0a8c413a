"""Chatroom: the application factory, the whole wiring on one screen."""

import fcntl
import logging
import os
import secrets
import sqlite3
import uuid
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import CONFIGS

from .extensions import csrf, db, login_manager, migrate, socketio
from .serving import (
    ChatFlask,
    ChatPacket,
    SocketEventSessions,
    WebsocketTuning,
    detect_async_mode,
    fast_eventlet_unmasking,
    green_psycopg,
)

log = logging.getLogger(__name__)

# Any fixed number: the PostgreSQL advisory lock taken while migrating.
MIGRATION_LOCK_ID = 4242_0001

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def create_app(test_config=None):
    """Build the app: config, extensions, blueprints, the /chat namespace, the schema."""
    app = ChatFlask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    env_name = "testing" if test_config is not None else os.environ.get("CHAT_ENV", "production")
    app.config.from_object(CONFIGS[env_name])
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.update(test_config)
    _settle_secret_key(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["SQLALCHEMY_DATABASE_URI"] or (
        "sqlite:///" + os.path.join(app.instance_path, "chat.sqlite3")
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # sqlite3's timeout is SQLite's busy timeout: how long a writer waits for the lock.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("timeout", app.config["CHAT_SQLITE_BUSY_TIMEOUT"])
    async_mode = detect_async_mode(app.config["CHAT_ASYNC_MODE"])
    if async_mode == "eventlet":
        green_psycopg()
        fast_eventlet_unmasking()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    socketio.init_app(
        app,
        async_mode=async_mode,
        cors_allowed_origins=_origin_checker(app.config["CHAT_ALLOWED_ORIGINS"]),
        max_http_buffer_size=app.config["CHAT_MAX_HTTP_BUFFER_SIZE"],
        # Handle each socket's events in order, on its own reader: a user's quick
        # messages then keep their order (with a thread per event, as under
        # gunicorn -k gthread by default, two of them could swap), and no thread
        # is started per event. Sockets still run in parallel with each other.
        async_handlers=False,
        # The default protocol, encoded with less work per packet (serving.ChatPacket).
        serializer=ChatPacket,
        **_message_queue(app.config["REDIS_URL"], app.config["CHAT_REDIS_CHANNEL"]),
    )
    app.session_interface = SocketEventSessions()
    app.wsgi_app = WebsocketTuning(app.wsgi_app, compression=app.config["CHAT_WS_COMPRESSION"])

    from .auth import bp as auth_bp
    from .chat import bp as chat_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(chat_bp)
    _wire_chat(app)
    app.after_request(_security_headers)

    if app.config["CHAT_AUTO_MIGRATE"]:
        _migrate(app)
    return app


def _migrate(app):
    """Apply pending migrations, one process at a time.

    Several processes may start together on one database (see "Scaling out"):
    PostgreSQL serialises them with an advisory lock, SQLite with a lock file
    beside the database (SQLite is shared only on one machine).
    """
    from flask_migrate import upgrade

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")
                try:
                    upgrade()
                finally:
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")
        elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            with open(engine.url.database + ".migrate-lock", "w") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                upgrade()
        else:
            upgrade()


def _message_queue(redis_url, channel):
    """With REDIS_URL, Socket.IO fans out through Redis to every server process."""
    if not redis_url:
        return {}
    import socketio as python_socketio

    from .chat.scaleout import REDIS_OPTIONS, channel_for

    manager = python_socketio.RedisManager(
        redis_url, channel=channel or channel_for(redis_url), redis_options=dict(REDIS_OPTIONS)
    )
    return {"client_manager": manager}


def _wire_chat(app):
    """Build the chat's state for this app and register the /chat namespace.

    Presence, rate limits and the delivery lock have two implementations: in
    memory for one process, in Redis (REDIS_URL) for several. Nothing else
    knows which one it talks to.
    """
    from .chat import acks
    from .chat.namespace import ChatNamespace
    from .chat.presence import LocalPresence
    from .chat.ratelimit import RateLimits
    from .chat.service import NAMESPACE, Chat
    from .chat.store import MessageStore, UnstoredMessages

    redis_url = app.config["REDIS_URL"]
    if redis_url:
        from .chat.outage import OutageLog, RepeatFilter
        from .chat.presence import RedisPresence
        from .chat.scaleout import REDIS_OPTIONS, SharedLock, keep_presence, make_redis

        client = make_redis(redis_url)
        ttl = app.config["CHAT_PRESENCE_TTL"]
        presence = RedisPresence(client, process_id=uuid.uuid4().hex, ttl=ttl)
        limits = RateLimits(app.config["CHAT_RATE_LIMIT"], redis_url, **REDIS_OPTIONS)
        redis_health = OutageLog("Redis")
        delivery = SharedLock(client, "chat:delivery", redis_health)
        # python-socketio logs every failed publish: once a minute is enough.
        socketio.server.logger.addFilter(RepeatFilter(60))
    else:
        presence = LocalPresence()
        limits = RateLimits(app.config["CHAT_RATE_LIMIT"])
        delivery = None
    postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    app.extensions["chat"] = Chat(
        server=socketio.server,
        presence=presence,
        limits=limits,
        store=UnstoredMessages() if app.config["CHAT_BENCH_NO_STORE"] else MessageStore(),
        max_length=app.config["CHAT_MAX_MESSAGE_LENGTH"],
        app_context=app.app_context,
        delivery=delivery,
        offline_grace=app.config["CHAT_OFFLINE_GRACE"],
        commit_window=app.config["CHAT_COMMIT_WINDOW_MS"] / 1000,
        # Where every batch waits a pass of the event loop for its answer (service._window_for).
        gather_public=socketio.server.async_mode == "eventlet" and postgresql,
        # Where the store answers over a socket: the next batch is sent before one is delivered.
        overlap=postgresql and not app.config["CHAT_BENCH_NO_STORE"],
    )
    acks.install(socketio.server)
    # After init_app: on_namespace registers on the server that init_app just made.
    socketio.on_namespace(ChatNamespace(NAMESPACE))
    socketio.on_error(NAMESPACE)(_socket_error)
    if redis_url:
        chat = app.extensions["chat"]
        chat.server.start_background_task(keep_presence, chat, redis_health, max(1, ttl / 3))


def _socket_error(error):
    """An unexpected failure in a handler: log it, answer with an error ack, keep the socket."""
    from .chat.protocol import INTERNAL_ERROR

    log.exception("error in a /chat handler", exc_info=error)
    db.session.rollback()
    return INTERNAL_ERROR.ack()


def _settle_secret_key(app):
    """Refuse to run in production without SECRET_KEY; elsewhere make a private one.

    The development key is random and kept in the instance folder, so sessions
    survive restarts and no known key ever signs a cookie.
    """
    if app.config.get("SECRET_KEY"):
        return
    if app.config.get("REQUIRE_SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY is not set. Set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_hex(32))'), "
            "or set CHAT_ENV=development on a laptop."
        )
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _origin_checker(extra_origins):
    """Allow a socket from the page's own origin, plus ``CHAT_ALLOWED_ORIGINS``.

    Same origin means the Origin header names the host the request was sent
    to; the scheme is not compared, so a TLS-terminating proxy needs no extra
    setting.
    """
    allowed = {origin.rstrip("/") for origin in extra_origins}

    def origin_allowed(origin, environ):
        if origin in allowed:
            return True
        host = environ.get("HTTP_HOST", "")
        return bool(host) and origin in {f"http://{host}", f"https://{host}"}

    return origin_allowed


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: WAL (with the busy timeout set in create_app), so several processes can share the file.

    synchronous=NORMAL: in WAL mode a commit then survives the process being
    killed (it is in the operating system's cache) without an fsync per
    message; only an operating-system crash or power cut can lose the last
    commits. See README, "Decisions".
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _security_headers(response):
    """Defence in depth against injected markup and framing."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
