"""Nothing lost: history on connect, catch-up with ``since``, paging, exactly-once sends."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from app.auth.models import User
from app.chat.models import Message
from app.chat.presence import OnlineUser
from app.chat.store import Draft, DuplicateMessage
from app.extensions import db, socketio
from tests.conftest import AuthActions, events
from tests.support import wait_until

FOUNDATION_DB = Path(__file__).parent / "data" / "foundation.sqlite3"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """The store's tests run on both supported databases."""
    return request.param


def say(sock, payload):
    return sock.emit("say", payload, namespace="/chat", callback=True)


def history(sock, payload=None):
    return sock.emit("history", payload, namespace="/chat", callback=True)


@pytest.fixture
def people(browser):
    """Logged-in browsers for alice, bob and carol (no sockets yet)."""
    return {name: browser(name) for name in ["alice", "bob", "carol"]}


def test_history_comes_first_on_connect(people, connect):
    sock = connect(people["alice"])
    received = sock.get_received("/chat")
    assert [event["name"] for event in received] == ["history", "online"]
    assert received[0]["args"][0] == {"messages": [], "more": False}


def test_history_holds_what_was_said_before_connecting(people, connect):
    alice = connect(people["alice"])
    first = say(alice, {"to": "all", "msg": "first"})
    second = say(alice, {"to": "all", "msg": "second"})
    (got,) = events(connect(people["bob"]), "history")
    assert [m["id"] for m in got["messages"]] == [first["id"], second["id"]]
    assert got["messages"][0] == {
        "id": first["id"],
        "from": "alice",
        "to": "all",
        "msg": "first",
        "at": first["at"],
    }
    assert got["more"] is False


def test_history_never_shows_other_peoples_private_messages(people, connect):
    alice, bob = connect(people["alice"]), connect(people["bob"])
    say(alice, {"to": "bob", "msg": "for bob only"})
    say(bob, {"to": "alice", "msg": "for alice only"})
    say(alice, {"to": "all", "msg": "for all"})
    (carols,) = events(connect(people["carol"]), "history")
    assert [m["msg"] for m in carols["messages"]] == ["for all"]
    (bobs,) = events(connect(people["bob"]), "history")
    assert [m["msg"] for m in bobs["messages"]] == ["for bob only", "for alice only", "for all"]


def test_history_without_since_is_the_latest_fifty(app, people, connect):
    _store_public(app, "alice", 60)
    (got,) = events(connect(people["bob"]), "history")
    assert len(got["messages"]) == 50
    assert got["messages"][-1]["msg"] == "message 59"
    assert got["more"] is True


def test_since_catches_up_exactly_the_missed_messages(people, connect):
    bob = connect(people["bob"])
    alice = connect(people["alice"])
    seen = say(alice, {"to": "all", "msg": "seen live"})
    bob.disconnect(namespace="/chat")
    missed = [
        say(alice, {"to": "all", "msg": "missed 1"}),
        say(alice, {"to": "bob", "msg": "missed private"}),
        say(alice, {"to": "carol", "msg": "not bob's business"}),
        say(alice, {"to": "all", "msg": "missed 2"}),
    ]
    (got,) = events(connect(people["bob"], auth={"since": seen["id"]}), "history")
    assert [m["msg"] for m in got["messages"]] == ["missed 1", "missed private", "missed 2"]
    assert [m["id"] for m in got["messages"]] == [missed[0]["id"], missed[1]["id"], missed[3]["id"]]
    assert got["more"] is False


def test_since_is_cut_at_five_hundred_and_says_so(app, people, connect):
    _store_public(app, "alice", 501)
    (got,) = events(connect(people["bob"], auth={"since": 0}), "history")
    assert len(got["messages"]) == 500
    assert got["messages"][0]["msg"] == "message 0"
    assert got["more"] is True
    rest = history(connect(people["carol"]), {"after": got["messages"][-1]["id"]})
    assert [m["msg"] for m in rest["messages"]] == ["message 500"]


@pytest.mark.parametrize("auth", [{"since": "3"}, {"since": -1}, {"since": True}, "junk", {"other": 1}])
def test_unusable_since_gives_the_latest_messages(people, connect, auth):
    say(connect(people["alice"]), {"to": "all", "msg": "hello"})
    sock = connect(people["bob"], auth=auth)
    assert sock.is_connected("/chat")
    (got,) = events(sock, "history")
    assert [m["msg"] for m in got["messages"]] == ["hello"]


def test_paging_back_with_before(app, people, connect):
    _store_public(app, "alice", 120)
    sock = connect(people["bob"])
    (latest,) = events(sock, "history")
    page = history(sock, {"before": latest["messages"][0]["id"], "limit": 40})
    assert page["ok"] is True and page["more"] is True
    assert [m["msg"] for m in page["messages"]] == [f"message {n}" for n in range(30, 70)]
    last = history(sock, {"before": page["messages"][0]["id"], "limit": 100})
    assert [m["msg"] for m in last["messages"]] == [f"message {n}" for n in range(30)]
    assert last["more"] is False


def test_paging_through_a_mix_of_public_and_private_messages_skips_and_repeats_nothing(app, people, connect):
    # Bob sees three of the four kinds, interleaved; each kind alone fills more than a page.
    kinds = [("alice", None), ("alice", "bob"), ("bob", "alice"), ("alice", "carol")]
    _store_mixed(app, kinds, rounds=60)
    bobs = [f"message {n}" for n in range(240) if n % 4 != 3]
    sock = connect(people["bob"])
    (latest,) = events(sock, "history")
    assert [m["msg"] for m in latest["messages"]] == bobs[-50:]
    assert latest["more"] is True
    page = history(sock, {"before": latest["messages"][0]["id"], "limit": 100})
    assert [m["msg"] for m in page["messages"]] == bobs[-150:-50]
    assert page["more"] is True
    forward = history(sock, {"after": page["messages"][9]["id"], "limit": 30})
    assert [m["msg"] for m in forward["messages"]] == bobs[40:70]
    assert forward["more"] is True
    carols = history(connect(people["carol"]), {"after": 0, "limit": 100})
    assert [m["msg"] for m in carols["messages"]] == [f"message {n}" for n in range(240) if n % 4 in (0, 3)][
        :100
    ]
    assert carols["more"] is True


@pytest.mark.parametrize(
    "payload",
    [
        "x",
        [],
        {"before": "5"},
        {"before": -2},
        {"limit": 0},
        {"limit": 101},
        {"limit": 2.5},
        {"before": 1, "after": 1},
    ],
)
def test_bad_history_requests_get_bad_request(people, connect, payload):
    sock = connect(people["alice"])
    ack = history(sock, payload)
    assert ack["ok"] is False and ack["error"] == "bad_request"
    assert sock.is_connected("/chat")


def test_repeated_cid_is_stored_and_delivered_once(app, people, connect):
    alice, bob = connect(people["alice"]), connect(people["bob"])
    events(bob)
    first = say(alice, {"to": "all", "msg": "only once", "cid": "c-1"})
    again = say(alice, {"to": "all", "msg": "only once", "cid": "c-1"})
    assert first["ok"] is True and "duplicate" not in first
    assert again == {"ok": True, "id": first["id"], "at": first["at"], "duplicate": True}
    assert [m["msg"] for m in events(bob, "say")] == ["only once"]
    assert _count_messages(app) == 1


def _sender(app, name):
    with app.app_context():
        user = User.find(name)
        return OnlineUser(user.id, user.username)


def test_messages_stored_together_get_ids_in_the_order_given(app, people, connect):
    bob = connect(people["bob"])
    alice = _sender(app, "alice")
    drafts = [Draft(alice, None, f"batch {n}", cid=f"b-{n}") for n in range(5)]
    with app.app_context():
        stored = app.extensions["chat"].store.add_many(drafts)
    assert [message["msg"] for message in stored] == [f"batch {n}" for n in range(5)]
    ids = [message["id"] for message in stored]
    assert ids == sorted(ids) and len(set(ids)) == 5
    (later,) = events(connect(people["carol"]), "history")
    assert [(m["id"], m["msg"]) for m in later["messages"]] == [(m["id"], m["msg"]) for m in stored]
    assert events(bob, "say") == [], "storing is not delivering"


def test_a_repeat_in_a_batch_is_refused_alone(app, people, connect):
    earlier = say(connect(people["alice"]), {"to": "all", "msg": "earlier", "cid": "c-0"})
    alice = _sender(app, "alice")
    drafts = [
        Draft(alice, None, "one", cid="c-1"),
        Draft(alice, None, "earlier again", cid="c-0"),
        Draft(alice, None, "two", cid="c-2"),
        Draft(alice, None, "one again", cid="c-1"),
    ]
    with app.app_context():
        one, repeat, two, one_again = app.extensions["chat"].store.add_many(drafts)
    assert (one["msg"], two["msg"]) == ("one", "two")
    assert isinstance(repeat, DuplicateMessage) and repeat.message["id"] == earlier["id"]
    assert isinstance(one_again, DuplicateMessage) and one_again.message["id"] == one["id"]
    assert _count_messages(app) == 3


def test_cid_belongs_to_its_sender(app, people, connect):
    alice, bob = connect(people["alice"]), connect(people["bob"])
    one = say(alice, {"to": "all", "msg": "a", "cid": "same"})
    two = say(bob, {"to": "all", "msg": "b", "cid": "same"})
    assert one["id"] != two["id"] and "duplicate" not in two
    assert _count_messages(app) == 2


def test_retry_is_not_counted_by_the_rate_limit(app, people, connect):
    app.extensions["chat"].limits = type(app.extensions["chat"].limits)("1/60")
    alice = connect(people["alice"])
    assert say(alice, {"to": "all", "msg": "x", "cid": "k"})["ok"] is True
    assert say(alice, {"to": "all", "msg": "x", "cid": "k"})["duplicate"] is True


@pytest.mark.parametrize("cid", ["", "x" * 65, 5, ["a"]])
def test_bad_cid_is_a_bad_request(people, connect, cid):
    ack = say(connect(people["alice"]), {"to": "all", "msg": "x", "cid": cid})
    assert ack["error"] == "bad_request"


def test_offline_private_message_arrives_on_next_connect_marked_queued(people, connect):
    alice = connect(people["alice"])
    sent = say(alice, {"to": "bob", "msg": "while you were away"})
    assert sent["ok"] is True
    (got,) = events(connect(people["bob"]), "history")
    (message,) = got["messages"]
    assert message["msg"] == "while you were away"
    assert message["queued"] is True
    assert message["id"] == sent["id"]


def test_storage_failure_gives_unavailable_and_sends_nothing(tmp_path):
    path = tmp_path / "chat.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "CHAT_SQLITE_BUSY_TIMEOUT": 0.2})
    alice, bob = _sockets(app, "alice", "bob")
    events(bob)
    # Another process holds SQLite's write lock past our busy timeout.
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        ack = say(alice, {"to": "all", "msg": "lost?"})
        assert ack["ok"] is False and ack["error"] == "unavailable"
        assert events(bob) == []
    finally:
        blocker.rollback()
        blocker.close()
    # The server keeps serving: the retry goes through once the lock is gone.
    again = say(alice, {"to": "all", "msg": "lost?"})
    assert again["ok"] is True
    assert [m["msg"] for m in events(bob, "say")] == ["lost?"]
    alice.disconnect(namespace="/chat")
    bob.disconnect(namespace="/chat")


def test_a_database_that_cannot_be_opened_gives_unavailable(tmp_path):
    """A store that cannot even connect (its folder is gone) answers ``unavailable``; later, it works."""
    folder = tmp_path / "data"
    folder.mkdir()
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'chat.sqlite3'}"})
    alice, bob = _sockets(app, "alice", "bob")
    assert say(alice, {"to": "all", "msg": "first"})["ok"] is True
    events(bob)
    with app.app_context():
        db.engine.dispose()  # closes every connection, the store's kept one too
    folder.rename(tmp_path / "moved")
    try:
        ack = say(alice, {"to": "all", "msg": "anyone?"})
        assert ack["ok"] is False and ack["error"] == "unavailable"
        assert events(bob) == []
        assert alice.is_connected("/chat")
    finally:
        (tmp_path / "moved").rename(folder)
    assert say(alice, {"to": "all", "msg": "anyone?"})["ok"] is True
    assert [m["msg"] for m in events(bob, "say")] == ["anyone?"]
    alice.disconnect(namespace="/chat")
    bob.disconnect(namespace="/chat")


def test_a_connection_dropped_while_idle_is_replaced_unnoticed(app, database, people, connect):
    """The store keeps its connection between messages: one the database dropped meanwhile costs nothing.

    PostgreSQL: the server ends that connection's session (as a restart or an
    idle timeout does). SQLite: the connection is closed under the store.
    """
    alice, bob = connect(people["alice"]), connect(people["bob"])
    events(bob)
    assert say(alice, {"to": "all", "msg": "before", "cid": "c-1"})["ok"] is True
    kept = app.extensions["chat"].store._inserter()._connection.dbapi_connection
    if database == "postgresql":
        with app.app_context():
            ended = db.session.scalar(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": kept.info.backend_pid}
            )
            db.session.commit()
            assert ended is True
            # The session has ended once its backend is gone (pg_terminate_backend only signals it).
            assert wait_until(lambda: _backend_gone(kept.info.backend_pid), 5) is not None
    else:
        kept.close()
    after = say(alice, {"to": "all", "msg": "after", "cid": "c-2"})
    assert after["ok"] is True, after
    assert [m["msg"] for m in events(bob, "say")] == ["before", "after"]
    assert _count_messages(app) == 2


def _backend_gone(pid):
    gone = db.session.scalar(text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
    db.session.commit()  # pg_stat_activity is read once per transaction
    return gone


def test_foundation_database_upgrades_with_nothing_lost(tmp_path):
    path = tmp_path / "chat.sqlite3"
    shutil.copy(FOUNDATION_DB, path)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    client = app.test_client()
    assert AuthActions(client).login("alice", password="correct horse").status_code == 303
    sock = socketio.test_client(app, namespace="/chat", flask_test_client=client)
    (got,) = events(sock, "history")
    assert [(m["id"], m["from"], m["to"], m["msg"]) for m in got["messages"]] == [
        (1, "alice", "all", "hello before the upgrade"),
        (2, "小明", "alice", "私信 before the upgrade"),
        (3, "alice", "all", "<b>third</b>"),
    ]
    ack = say(sock, {"to": "all", "msg": "after the upgrade", "cid": "u-1"})
    assert ack["id"] == 4
    assert say(sock, {"to": "all", "msg": "after the upgrade", "cid": "u-1"})["duplicate"] is True
    sock.disconnect(namespace="/chat")


def _store_public(app, sender_name, count):
    """Store ``count`` public messages from ``sender_name`` straight into the database."""
    from app.auth.models import User

    with app.app_context():
        sender = User.find(sender_name)
        db.session.add_all(Message(sender_id=sender.id, body=f"message {n}") for n in range(count))
        db.session.commit()


def _store_mixed(app, kinds, rounds):
    """Store ``rounds`` times one message of each ``(sender, recipient or None)``, numbered in order."""
    with app.app_context():
        ids = {user.username: user.id for user in db.session.execute(db.select(User)).scalars()}
        db.session.add_all(
            Message(
                sender_id=ids[sender],
                recipient_id=recipient and ids[recipient],
                body=f"message {n}",
            )
            for n, (sender, recipient) in enumerate(kinds * rounds)
        )
        db.session.commit()


def _sockets(app, *names):
    """A /chat socket for each of ``names``, registered on ``app`` through the form."""
    sockets = []
    for name in names:
        http = app.test_client()
        AuthActions(http).register(name)
        sockets.append(socketio.test_client(app, namespace="/chat", flask_test_client=http))
    return sockets


def _count_messages(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(Message.id)))
