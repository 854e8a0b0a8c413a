"""Fixtures: the app under a real gunicorn (eventlet, gevent), headless Chromium, users in browser contexts.

Every user registers through the real form in their own browser context (own
cookies), exactly as a person would; tabs are pages of that context.
"""

import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import LiveServer

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
WAIT_MS = 10_000  # any single wait for the page; well under the 15 s bound

expect.set_options(timeout=WAIT_MS)


def _chromium_or_skip():
    """CI must run the browser tests; a laptop without Chromium skips them with a hint."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
    pytest.skip("install Debian's chromium (apt-get install chromium fonts-noto-cjk) for the browser tests")


@pytest.fixture(scope="session")
def chromium():
    """One headless Debian Chromium for the whole session (Playwright's own download is not used)."""
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def start_server(workdir, worker="eventlet"):
    """The app under ``gunicorn -k <worker> -w 1`` on a fresh database."""
    server = LiveServer(worker, workdir)
    server.start()
    return server


def assert_clean_log(server):
    """Every traceback in the server's log is a bug."""
    log = server.log()
    assert "Traceback" not in log, f"the server logged a traceback:\n{log}"


@pytest.fixture(scope="module", params=["eventlet", "gevent"])
def server(request, tmp_path_factory):
    """A server shared by the tests of a module (each test uses its own users), under each greenlet worker."""
    _chromium_or_skip()
    live = start_server(tmp_path_factory.mktemp(f"e2e-{request.param}"), request.param)
    yield live
    live.stop()
    assert_clean_log(live)


def unique_name(prefix):
    """A username no other test on the shared server uses (``prefix`` may be Chinese)."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"


class Shots:
    """Screenshots of one test in tests/artifacts/, numbered in the order taken."""

    def __init__(self, test_name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.prefix = re.sub(r"[^\w-]+", "_", test_name)
        self.count = 0

    def take(self, page, label):
        self.count += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{self.count:02d}-{label}.png"))


class User:
    """A person with their own browser (context): registers through the form, opens chat tabs."""

    def __init__(self, chromium, server, name):
        self.server = server
        self.name = name
        self.context = chromium.new_context(base_url=server.base_url, viewport={"width": 1000, "height": 700})
        self.context.set_default_timeout(WAIT_MS)
        self.context.set_default_navigation_timeout(WAIT_MS)
        self.tabs = []

    def register(self):
        """Fill in and submit the real register form; lands on the chat page, connected."""
        page = self.context.new_page()
        self.tabs.append(page)
        page.goto("/auth/register")
        page.fill("#username", self.name)
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(self.server.url("/"))
        wait_online(page)
        return page

    def open_tab(self):
        """Another tab on the chat page, connected."""
        page = self.context.new_page()
        self.tabs.append(page)
        page.goto("/")
        wait_online(page)
        return page

    def close(self):
        self.context.close()


def wait_online(page):
    """The page's socket is connected and has its snapshot of who is online."""
    page.wait_for_selector("#conn-state.state-online")
    page.wait_for_selector("#users .user.me")


class Crowd:
    """Users of one server, each in their own browser context; all closed at teardown."""

    def __init__(self, chromium, server):
        self.chromium = chromium
        self.server = server
        self.users = []

    def user(self, prefix):
        """A new person (not registered yet), e.g. to route their websocket first."""
        user = User(self.chromium, self.server, unique_name(prefix))
        self.users.append(user)
        return user

    def join(self, prefix):
        """A new person registered through the form: ``(user, their chat tab)``."""
        user = self.user(prefix)
        return user, user.register()

    def close(self):
        for user in self.users:
            user.close()


@pytest.fixture
def people(chromium, server):
    """People on the module's server: ``people.join("alice")`` registers one."""
    crowd = Crowd(chromium, server)
    yield crowd
    crowd.close()


@pytest.fixture
def own_server(tmp_path):
    """Start a server of the test's own (``own_server(CHAT_RATE_LIMIT="2/3")``), stopped at teardown."""
    _chromium_or_skip()
    started = []

    def start(**env):
        live = LiveServer("eventlet", tmp_path, **env)
        started.append(live)
        live.start()
        return live

    yield start
    for live in started:
        live.stop()
        assert_clean_log(live)


@pytest.fixture
def shots(request):
    """Screenshot helper named after the running test."""
    return Shots(request.node.name)
