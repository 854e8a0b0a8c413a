"""Fixtures: the app under a real gunicorn (eventlet, gevent, gthread), HTTP browsers and socket tabs.

Flask-SocketIO's test client skips the transport, so Origin checks, frame-size
limits and cookies over a real handshake are only exercised here.
"""

import contextlib
import re
import threading
import time
import uuid
from functools import partial

import pytest
import requests
import socketio

from tests.support import WORKER_ARGS, LiveServer, csrf_token

CHAT = "/chat"
ALLOWED_ORIGIN = "http://allowed.example"
PASSWORD = "correct horse battery"
RECORDED_EVENTS = ("history", "online", "offline", "say", "typing", "resync", "connect_error")
WAIT = 5
TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n(?:[ \t]+.*\n)*\S.*")
# Tracebacks of known races inside the libraries, not in the app, that cannot be avoided
# from the client side: each one needs its reason here.
LIBRARY_RACES = {
    # Threading mode: python-engineio's websocket writer thread closes the simple-websocket
    # whose reader thread has just closed the socket on the client's close frame, and
    # simple_websocket.ws.Base.close() catches only BrokenPipeError (OSError EBADF escapes).
    # The connection is already over: users notice nothing.
    "engineio writer closing a closed simple-websocket": re.compile(
        r'engineio/socket\.py", line \d+, in writer\n\s+ws\.close\(\)\n(?:[ \t]+.*\n)*'
        r'[ \t]+File "[^"]*simple_websocket/ws\.py", line \d+, in close\n[ \t]+self\.sock\.send\(out_data\)\n'
        r"(?:[ \t]+\^+\n)?OSError: \[Errno 9\] Bad file descriptor$"
    ),
}


def unexplained_tracebacks(log):
    """The tracebacks in a server log, but those of the known library races."""
    tracebacks = TRACEBACK.findall(log)
    assert len(tracebacks) == log.count("Traceback"), f"a traceback in an unexpected format:\n{log}"
    return [
        traceback
        for traceback in tracebacks
        if not any(race.search(traceback) for race in LIBRARY_RACES.values())
    ]


def unique_name(prefix):
    """A username no other test on the shared server uses."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def running(worker, workdir, **env):
    """The app under ``gunicorn -k <worker> -w 1`` for the block; then its log must hold no traceback.

    Every traceback in a server's log is a bug, but for the known library races above.
    """
    live = LiveServer(worker, workdir, **env).start()
    try:
        yield live
    finally:
        live.stop()
    log = live.log()
    assert unexplained_tracebacks(log) == [], f"the {worker} server logged a traceback:\n{log}"


@pytest.fixture(scope="module", params=sorted(WORKER_ARGS))
def server(request, tmp_path_factory):
    """The app under each production worker, shared by the tests of a module."""
    workdir = tmp_path_factory.mktemp(f"live-{request.param}")
    with running(request.param, workdir, CHAT_ALLOWED_ORIGINS=ALLOWED_ORIGIN) as live:
        yield live


class Browser:
    """A logged-in user's browser: a requests session holding the session cookie."""

    def __init__(self, server, username):
        self.server = server
        self.username = username
        self.http = requests.Session()

    def register(self):
        """Create the account through the real form, CSRF token included; logs in."""
        page = self.http.get(self.server.url("/auth/register"), timeout=WAIT)
        assert page.status_code == 200, page.text
        response = self.http.post(
            self.server.url("/auth/register"),
            data={
                "username": self.username,
                "password": PASSWORD,
                "confirm": PASSWORD,
                "csrf_token": csrf_token(page.text),
            },
            allow_redirects=False,
            timeout=WAIT,
        )
        assert response.status_code == 303, response.text
        assert response.headers["Location"] == "/"

    def logout(self):
        """Press the chat page's "Log out" button."""
        page = self.http.get(self.server.url("/"), timeout=WAIT)
        assert page.status_code == 200, page.text
        return self.http.post(
            self.server.url("/auth/logout"),
            data={"csrf_token": csrf_token(page.text)},
            allow_redirects=False,
            timeout=WAIT,
        )

    @property
    def cookie(self):
        """The ``Cookie`` header this browser would send."""
        return f"session={self.http.cookies['session']}"


class Tab:
    """One browser tab: a /chat socket over the websocket transport, recording every event it hears."""

    def __init__(self, server, cookie=None, origin=None, since=None):
        self.server = server
        # Connection auth: a reconnecting page sends the highest id it has shown.
        self.auth = None if since is None else {"since": since}
        self.headers = {"Origin": origin or server.base_url}
        if cookie:
            self.headers["Cookie"] = cookie
        # A browser sends exactly one Origin; without this websocket-client adds its own as well.
        self.client = socketio.Client(reconnection=False, websocket_extra_options={"suppress_origin": True})
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._events = {name: [] for name in RECORDED_EVENTS}
        for name in RECORDED_EVENTS:
            self.client.on(name, partial(self._record, name), namespace=CHAT)
        self.client.on("disconnect", self._on_disconnect, namespace=CHAT)

    def _record(self, name, data=None, *_rest):
        with self._lock:
            self._events[name].append(data)

    def _on_disconnect(self, reason=None):
        self.closed.set()

    def connect(self):
        """Open the socket; raises socketio.exceptions.ConnectionError when refused."""
        self.client.connect(
            self.server.base_url,
            headers=dict(self.headers),
            auth=self.auth,
            transports=["websocket"],
            namespaces=[CHAT],
            wait_timeout=WAIT,
        )
        return self

    def close(self):
        """Close the tab, also when the server closed the socket first."""
        self.client.disconnect()
        # python-engineio's client leaves the websocket open when the server drops
        # the connection; close it so it does not leak (a ResourceWarning).
        websocket = getattr(self.client.eio, "ws", None)
        if websocket is not None:
            websocket.shutdown()

    @property
    def connected(self):
        """True while the socket is open, as the client sees it."""
        return self.client.connected and not self.closed.is_set()

    def events(self, name, predicate=None):
        """A copy of what arrived as ``name`` so far, only those matching ``predicate`` when given."""
        with self._lock:
            received = list(self._events[name])
        return [data for data in received if predicate is None or predicate(data)]

    def wait_for(self, name, predicate=None, timeout=WAIT):
        """The first ``name`` event matching ``predicate``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            matches = self.events(name, predicate)
            if matches:
                return matches[0]
            if time.monotonic() >= deadline:
                pytest.fail(f"no matching {name!r} within {timeout} s; received: {self.events(name)}")
            time.sleep(0.02)

    def say(self, to, msg, timeout=WAIT):
        """Send a ``say`` and return the server's acknowledgement."""
        return self.client.call("say", {"to": to, "msg": msg}, namespace=CHAT, timeout=timeout)

    def send(self, to, msg):
        """A ``say`` that must be accepted; returns its ack."""
        ack = self.say(to, msg)
        assert ack["ok"] is True, ack
        return ack

    def history(self):
        """The ``history`` the server sent on connect."""
        return self.wait_for("history")


class Live:
    """What one test opens on the shared server: browsers and tabs, all closed at teardown."""

    def __init__(self, server):
        self.server = server
        self.browsers = []
        self.tabs = []

    def browser(self, prefix="user"):
        """A new user, registered and logged in over HTTP."""
        browser = Browser(self.server, unique_name(prefix))
        self.browsers.append(browser)
        browser.register()
        return browser

    def tab(self, browser=None, origin=None, connect=True):
        """A tab of ``browser`` (an anonymous one when None), connected unless told otherwise."""
        tab = Tab(self.server, cookie=browser.cookie if browser else None, origin=origin)
        self.tabs.append(tab)
        return tab.connect() if connect else tab

    def sync(self, sender, *watchers):
        """Barrier: a public marker from ``sender`` reaches every watcher.

        Use it before asserting that something did *not* arrive: what the server
        sent a watcher because of an earlier action (a close, a message) left
        before the marker, and each socket receives in order, so no sleep is needed.
        """
        marker = f"marker {uuid.uuid4().hex}"
        assert sender.say("all", marker)["ok"] is True
        for watcher in watchers:
            watcher.wait_for("say", lambda message: message["msg"] == marker)
        return marker

    def close(self):
        """Close every tab, then every browser's HTTP connections."""
        for tab in self.tabs:
            tab.close()
        for browser in self.browsers:
            browser.http.close()


@pytest.fixture
def live(server):
    """Browsers and tabs on the shared live server, closed when the test ends."""
    opened = Live(server)
    yield opened
    opened.close()
