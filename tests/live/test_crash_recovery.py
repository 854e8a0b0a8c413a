"""A crash (SIGKILL) mid-conversation loses nothing that was acknowledged.

One gunicorn -k eventlet process on SQLite is killed without any clean-up and
started again on the same port and database file: every acknowledged message
is still there for the people who may see it, a retry of a message whose ack
was lost is recognised by its ``cid``, and a ``since`` reconnect picks up
exactly where the client left off.
"""

import threading

import pytest
import requests

from .conftest import CHAT, WAIT, Browser, Tab, running, unique_name

pytestmark = pytest.mark.live


@pytest.fixture
def crashing_server(tmp_path):
    """The app under gunicorn -k eventlet on a SQLite file; a test may kill and restart it."""
    with running("eventlet", tmp_path) as server:
        yield server


@pytest.fixture
def open_tab(crashing_server):
    """Open a tab of a browser on the crashing server (with ``since`` when given); closed at the end."""
    opened = []

    def make(browser, since=None):
        opened.append(Tab(crashing_server, browser.cookie, since=since))
        return opened[-1].connect()

    yield make
    for tab in opened:
        tab.close()


def wire(ack, sender, to, msg):
    """The stored message an ack stands for, as history sends it."""
    return {"id": ack["id"], "from": sender.username, "to": to, "msg": msg, "at": ack["at"]}


def visible_to(user, messages):
    """The messages ``user`` may see: public ones and private ones sent or received."""
    return [m for m in messages if m["to"] == "all" or user.username in (m["from"], m["to"])]


def test_a_crash_loses_no_acknowledged_message(crashing_server, open_tab):
    server = crashing_server
    alice, bob, carol = (Browser(server, unique_name(name)) for name in ("alice", "bob", "carol"))
    for browser in (alice, bob, carol):
        browser.register()
    alice_tab, bob_tab = open_tab(alice), open_tab(bob)

    said = []
    for sender, tab, to, msg in [
        (alice, alice_tab, "all", "hello everyone"),
        (bob, bob_tab, "all", "hi alice"),
        (alice, alice_tab, bob.username, "a secret for bob"),
        (bob, bob_tab, alice.username, "a secret for alice"),
        (alice, alice_tab, "all", "shall we go on?"),
        (bob, bob_tab, "all", "yes"),
    ]:
        said.append(wire(tab.send(to, msg), sender, to, msg))
    assert [m["id"] for m in said] == sorted({m["id"] for m in said})

    # The message is stored and acked, but the ack never reaches the app: it will retry.
    lost_ack, acked = {}, threading.Event()

    def record(ack):
        lost_ack.update(ack)
        acked.set()

    lost_text = "did you get this?"
    alice_tab.client.emit(
        "say", {"to": "all", "msg": lost_text, "cid": "lost-ack"}, namespace=CHAT, callback=record
    )
    assert acked.wait(WAIT), "no ack for the message sent before the crash"
    assert lost_ack["ok"] is True, lost_ack
    lost = wire(lost_ack, alice, "all", lost_text)
    bob_tab.wait_for("say", lambda message: message["id"] == lost["id"])

    server.kill()
    assert alice_tab.closed.wait(WAIT) and bob_tab.closed.wait(WAIT), "the tabs did not notice the crash"
    server.start()
    assert requests.get(server.url("/healthz"), timeout=WAIT).status_code == 200

    everything = [*said, lost]
    for browser in (alice, bob, carol):
        history = open_tab(browser).history()
        assert history == {"messages": visible_to(browser, everything), "more": False}, browser.username

    alice_tab, bob_tab = open_tab(alice), open_tab(bob)
    retry = alice_tab.client.call(
        "say", {"to": "all", "msg": lost_text, "cid": "lost-ack"}, namespace=CHAT, timeout=WAIT
    )
    assert retry == {**lost_ack, "duplicate": True}
    # Not delivered again: bob hears the next message, and nothing before it.
    after = wire(alice_tab.send("all", "back again"), alice, "all", "back again")
    assert bob_tab.wait_for("say") == after
    assert bob_tab.events("say") == [after]

    everything.append(after)
    history = open_tab(alice).history()["messages"]
    assert [m["id"] for m in history].count(lost["id"]) == 1
    assert [m["msg"] for m in history].count(lost_text) == 1
    assert history == visible_to(alice, everything)

    since = said[1]["id"]
    catch_up = open_tab(bob, since=since).history()
    assert catch_up == {
        "messages": [m for m in visible_to(bob, everything) if m["id"] > since],
        "more": False,
    }
    catch_up = open_tab(carol, since=since).history()
    assert catch_up == {
        "messages": [m for m in visible_to(carol, everything) if m["id"] > since],
        "more": False,
    }
