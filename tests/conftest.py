"""Fixtures: a fresh app on a temporary SQLite file, logged-in HTTP clients, sockets."""

import re

import pytest

from app import create_app
from app.extensions import socketio

PASSWORD = "correct horse"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(html):
    """The CSRF token embedded in a rendered form."""
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1) or match.group(2)


@pytest.fixture
def app(tmp_path):
    """The app on its own database file, schema applied by the migrations."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'chat.sqlite3'}",
            "CHAT_ASYNC_MODE": "threading",
        }
    )
    yield app


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
