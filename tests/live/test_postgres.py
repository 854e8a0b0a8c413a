"""The chat on PostgreSQL under each production worker: a slow query holds up only its own sender."""

import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support import WORKER_ARGS

from .conftest import CHAT, WAIT, Live, running

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=sorted(WORKER_ARGS))
def pg_server(request, tmp_path_factory, postgres_url):
    """The app on the tests' PostgreSQL database, under each production worker."""
    workdir = tmp_path_factory.mktemp(f"pg-{request.param}")
    with running(request.param, workdir, DATABASE_URL=postgres_url) as live:
        yield live


@pytest.fixture
def live(pg_server):
    opened = Live(pg_server)
    yield opened
    opened.close()


def test_a_message_waiting_on_the_database_does_not_stop_the_room(live, postgres_url):
    """While PostgreSQL keeps one message waiting, the others still chat (typing notices flow)."""
    alice, bob, carol = live.browser("alice"), live.browser("bob"), live.browser("carol")
    alice_tab, bob_tab, carol_tab = live.tab(alice), live.tab(bob), live.tab(carol)
    acks = []

    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as blocker:
        # Another client holds the messages table: alice's insert has to wait for it.
        blocker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        sender = threading.Thread(
            target=lambda: acks.append(alice_tab.say("all", "patience", timeout=4 * WAIT))
        )
        sender.start()
        try:
            assert not _acked(sender, acks, 0.5), "the message was stored while the table was locked"
            bob_tab.client.emit("typing", {"to": "all"}, namespace=CHAT)
            notice = carol_tab.wait_for("typing", lambda n: n["from"] == bob.username, timeout=WAIT)
            assert notice["to"] == "all"
            assert carol_tab.events("say", lambda m: m["msg"] == "patience") == []
        finally:
            blocker.rollback()
    sender.join(4 * WAIT)
    assert acks and acks[0]["ok"] is True, acks
    assert carol_tab.wait_for("say", lambda m: m["msg"] == "patience")["id"] == acks[0]["id"]


def _acked(thread, acks, seconds):
    thread.join(seconds)
    return bool(acks)


def test_a_sender_whose_message_waits_on_the_database_keeps_using_its_socket(live, postgres_url):
    """bob's message waits behind alice's: his socket still carries his typing notice and his next message.

    Both of his messages are then stored, delivered in the order he sent them, and acknowledged.
    """
    alice, bob, carol = live.browser("alice"), live.browser("bob"), live.browser("carol")
    alice_tab, bob_tab, carol_tab = live.tab(alice), live.tab(bob), live.tab(carol)
    acks = {}
    heard = threading.Event()

    def ack_of(text):
        def hear(ack):
            acks[text] = ack
            if len(acks) == 3:
                heard.set()

        return hear

    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        try:
            alice_tab.client.emit(
                "say", {"to": "all", "msg": "first"}, namespace=CHAT, callback=ack_of("first")
            )
            time.sleep(0.2)  # past the commit window: alice's batch waits for the table
            bob_tab.client.emit("say", {"to": "all", "msg": "one"}, namespace=CHAT, callback=ack_of("one"))
            bob_tab.client.emit("typing", {"to": "all"}, namespace=CHAT)
            notice = carol_tab.wait_for("typing", lambda n: n["from"] == bob.username, timeout=WAIT)
            assert notice["to"] == "all"
            bob_tab.client.emit("say", {"to": "all", "msg": "two"}, namespace=CHAT, callback=ack_of("two"))
            assert not heard.wait(0.5), f"acknowledged while the table was locked: {acks}"
            assert carol_tab.events("say") == []
        finally:
            blocker.rollback()
    assert heard.wait(4 * WAIT), acks
    assert all(ack["ok"] for ack in acks.values()), acks
    assert acks["first"]["id"] < acks["one"]["id"] < acks["two"]["id"]
    carol_tab.wait_for("say", lambda m: m["msg"] == "two")
    assert [(m["from"], m["msg"], m["id"]) for m in carol_tab.events("say")] == [
        (alice.username, "first", acks["first"]["id"]),
        (bob.username, "one", acks["one"]["id"]),
        (bob.username, "two", acks["two"]["id"]),
    ]
