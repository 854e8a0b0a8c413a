"""Fixtures: a fresh app on a temporary SQLite file, logged-in HTTP clients, sockets."""

import os
import uuid

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db, socketio
from tests.support import csrf_token

PASSWORD = "correct horse"


@pytest.fixture
def database():
    """Which database the ``app`` fixture uses; test modules may parametrize it."""
    return "sqlite"


@pytest.fixture
def app(request, database, tmp_path):
    """The app on an empty database, schema applied by the migrations.

    SQLite: a new file per test. PostgreSQL: one database per test session,
    emptied before each test.
    """
    if database == "postgresql":
        uri = request.getfixturevalue("postgres_url")
    else:
        uri = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    settings = {"SQLALCHEMY_DATABASE_URI": uri, "CHAT_ASYNC_MODE": "threading", "CHAT_OFFLINE_GRACE": 0}
    settings.update(getattr(request, "param", None) or {})
    app = create_app(settings)
    if database == "postgresql":
        with app.app_context():
            db.session.execute(text("TRUNCATE messages, users RESTART IDENTITY CASCADE"))
            db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


POSTGRES_TEST_URL = os.environ.get(
    "CHAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database of this test session's own, dropped at the end."""
    import sqlalchemy

    server = sqlalchemy.create_engine(POSTGRES_TEST_URL, isolation_level="AUTOCOMMIT")
    name = f"chat_test_{uuid.uuid4().hex[:10]}"
    try:
        with server.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except sqlalchemy.exc.OperationalError:
        server.dispose()
        need_service(f"PostgreSQL at {POSTGRES_TEST_URL}", "start PostgreSQL, or set CHAT_TEST_POSTGRES_URL")
    yield (
        sqlalchemy.engine.make_url(POSTGRES_TEST_URL).set(database=name).render_as_string(hide_password=False)
    )
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    server.dispose()


@pytest.fixture
def client(app):
    """An anonymous browser."""
    return app.test_client()


class AuthActions:
    """Register, log in and log out through the real forms, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def register(self, username, password=PASSWORD, confirm=None):
        page = self.client.get("/auth/register").get_data(as_text=True)
        return self.client.post(
            "/auth/register",
            data={
                "username": username,
                "password": password,
                "confirm": password if confirm is None else confirm,
                "csrf_token": csrf_token(page),
            },
        )

    def login(self, username, password=PASSWORD, next_url=None, remember=False):
        url = "/auth/login" + (f"?next={next_url}" if next_url else "")
        page = self.client.get(url).get_data(as_text=True)
        data = {"username": username, "password": password, "csrf_token": csrf_token(page)}
        if remember:
            data["remember"] = "y"
        return self.client.post(url, data=data)

    def logout(self):
        page = self.client.get("/").get_data(as_text=True)
        return self.client.post("/auth/logout", data={"csrf_token": csrf_token(page)})


@pytest.fixture
def auth(client):
    """AuthActions on the anonymous client."""
    return AuthActions(client)


@pytest.fixture
def browser(app):
    """Make a logged-in HTTP client (a browser with its cookie) for a new user."""

    def make(username):
        client = app.test_client()
        response = AuthActions(client).register(username)
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def connect(app):
    """Open a /chat socket for a logged-in HTTP client, as a tab of that browser."""
    opened = []

    def make(http_client, auth=None):
        sock = socketio.test_client(app, namespace="/chat", flask_test_client=http_client, auth=auth)
        opened.append(sock)
        return sock

    yield make
    for sock in opened:
        if sock.is_connected("/chat"):
            sock.disconnect(namespace="/chat")


def events(sock, name=None):
    """Drain what ``sock`` received; only the events called ``name`` when given."""
    received = sock.get_received("/chat")
    return [event["args"][0] for event in received if name is None or event["name"] == name]


REDIS_TEST_URL = os.environ.get("CHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def need_service(what, hint):
    """Fail under CI (CI must run every test), skip on a laptop, when ``what`` is missing."""
    message = f"{what} is not available: {hint}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def redis_client():
    """A client of the test Redis (its own database number); skips or fails when absent."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        need_service(f"Redis at {REDIS_TEST_URL}", "start redis-server, or set CHAT_TEST_REDIS_URL")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client):
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"chat-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*"))
    if keys:
        redis_client.delete(*keys)
