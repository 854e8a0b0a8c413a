"""Messages over the /chat namespace: acks, audiences, validation, limits, typing."""

import threading
import time

import pytest

from app.chat.models import Message
from app.extensions import db
from tests.conftest import events
from tests.support import wait_until


def say(sock, payload, timeout=5):
    """Send a ``say`` and return its ack, also one sent after the handler returned (``acks.LaterAck``).

    The test client returns only an ack sent during the call, and keeps a later one in ``acks``.
    """
    ack = sock.emit("say", payload, namespace="/chat", callback=True)
    if ack is None:
        assert wait_until(lambda: sock.acks is not None, timeout) is not None, "no ack"
        (ack,), sock.acks = sock.acks["args"], None
    return ack


@pytest.fixture
def room(browser, connect):
    """alice (two tabs), bob and carol, connected and with their inboxes drained."""
    clients = {name: browser(name) for name in ["alice", "bob", "carol"]}
    socks = {
        "alice": connect(clients["alice"]),
        "alice2": connect(clients["alice"]),
        "bob": connect(clients["bob"]),
        "carol": connect(clients["carol"]),
    }
    for sock in socks.values():
        events(sock)
    return socks


def test_public_message_reaches_everyone_but_the_sending_socket(room):
    ack = say(room["alice"], {"to": "all", "msg": "  hello  "})
    assert ack["ok"] is True and isinstance(ack["id"], int) and ack["at"].endswith("Z")
    expected = {"id": ack["id"], "from": "alice", "to": "all", "msg": "hello", "at": ack["at"]}
    assert events(room["bob"], "say") == [expected]
    assert events(room["carol"], "say") == [expected]
    assert events(room["alice2"], "say") == [expected]  # the sender's other tab
    assert events(room["alice"], "say") == []  # the sender shows it from the ack


def test_private_message_reaches_only_the_two_people(room):
    ack = say(room["alice"], {"to": "BOB", "msg": "just you"})
    assert ack["ok"] is True
    (received,) = events(room["bob"], "say")
    assert received["to"] == "bob"  # the registered spelling
    assert received["from"] == "alice"
    assert events(room["alice2"], "say") == [received]
    assert events(room["alice"], "say") == []
    assert events(room["carol"]) == []


def test_private_message_reaches_all_recipient_tabs(room, browser, connect):
    bob_client = browser("dave")
    tab1, tab2 = connect(bob_client), connect(bob_client)
    events(tab1), events(tab2)
    say(room["alice"], {"to": "dave", "msg": "hi dave"})
    assert [m["msg"] for m in events(tab1, "say")] == ["hi dave"]
    assert [m["msg"] for m in events(tab2, "say")] == ["hi dave"]


def test_speaker_is_the_session_user_whatever_the_client_claims(room):
    ack = say(
        room["bob"], {"to": "all", "msg": "hi", "from": "alice", "id": 999, "at": "1999-01-01T00:00:00Z"}
    )
    (received,) = events(room["carol"], "say")
    assert received["from"] == "bob"
    assert received["id"] == ack["id"] != 999
    assert received["at"] == ack["at"]


def test_every_accepted_message_is_stored(app, room):
    public = say(room["alice"], {"to": "all", "msg": "one"})
    private = say(room["bob"], {"to": "carol", "msg": "two"})
    with app.app_context():
        rows = db.session.execute(db.select(Message).order_by(Message.id)).scalars().all()
        assert [(m.id, m.body, m.recipient_id is None) for m in rows] == [
            (public["id"], "one", True),
            (private["id"], "two", False),
        ]
    assert private["id"] > public["id"]


def test_user_text_is_relayed_verbatim_as_text(room):
    text = '<img src=x onerror="alert(1)">'
    say(room["alice"], {"to": "all", "msg": text})
    assert events(room["bob"], "say")[0]["msg"] == text


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("just a string", "bad_request"),
        (None, "bad_request"),
        (["all", "hi"], "bad_request"),
        ({}, "bad_request"),
        ({"to": "all"}, "bad_request"),
        ({"msg": "hi"}, "bad_request"),
        ({"to": 5, "msg": "hi"}, "bad_request"),
        ({"to": "all", "msg": 5}, "bad_request"),
        ({"to": "all", "msg": {"a": 1}}, "bad_request"),
        ({"to": "", "msg": "hi"}, "bad_request"),
        ({"to": "x" * 500, "msg": "hi"}, "bad_request"),
        ({"to": "all", "msg": "nul\x00byte"}, "bad_request"),
        ({"to": "all", "msg": "lone \ud800 surrogate"}, "bad_request"),
        ({"to": "bob\udfff", "msg": "hi"}, "bad_request"),
        ({"to": "all", "msg": "hi", "cid": "c-\ud800"}, "bad_request"),
        ({"to": "all", "msg": ""}, "empty"),
        ({"to": "all", "msg": " \n\t "}, "empty"),
        ({"to": "all", "msg": "x" * 2001}, "too_long"),
        ({"to": "nobody", "msg": "hi"}, "no_such_user"),
    ],
)
def test_bad_input_gets_an_error_ack_and_nothing_is_sent(room, payload, error):
    ack = say(room["alice"], payload)
    assert ack["ok"] is False
    assert ack["error"] == error
    assert isinstance(ack["message"], str) and ack["message"]
    assert room["alice"].is_connected("/chat")
    for name in ["alice2", "bob", "carol"]:
        assert events(room[name], "say") == []


def test_message_of_exactly_the_maximum_length_is_accepted(room):
    assert say(room["alice"], {"to": "all", "msg": "x" * 2000})["ok"] is True


def test_private_message_to_an_offline_user_is_stored_not_sent(app, room, browser):
    browser("erin")
    ack = say(room["alice"], {"to": "ERIN", "msg": "are you there?"})
    assert ack["ok"] is True
    assert [m["to"] for m in events(room["alice2"], "say")] == ["erin"]  # the sender's other tab
    assert events(room["bob"]) == []
    assert events(room["carol"]) == []


def test_extra_arguments_and_missing_callbacks_do_not_break_the_socket(room):
    room["alice"].emit("say", {"to": "all", "msg": "no callback"}, namespace="/chat")
    assert [m["msg"] for m in events(room["bob"], "say")] == ["no callback"]
    ack = room["alice"].emit(
        "say", {"to": "all", "msg": "two args"}, "extra", namespace="/chat", callback=True
    )
    assert ack["ok"] is True
    room["alice"].emit("say", namespace="/chat")
    room["alice"].emit("no_such_event", {"x": 1}, namespace="/chat")
    assert room["alice"].is_connected("/chat")


def test_a_failure_of_the_servers_own_gets_an_internal_error_ack_and_the_socket_stays(
    app, room, monkeypatch, caplog
):
    chat = app.extensions["chat"]

    def broken(target):
        raise RuntimeError("a bug")

    monkeypatch.setattr(chat, "resolve", broken)
    ack = say(room["alice"], {"to": "bob", "msg": "lost to a bug"})
    assert ack == {
        "ok": False,
        "error": "internal",
        "message": "The server failed to handle this; try again.",
    }
    assert "a bug" in caplog.text  # logged, with its traceback
    assert events(room["bob"]) == [] and events(room["alice2"]) == []
    monkeypatch.undo()
    assert say(room["alice"], {"to": "bob", "msg": "after it"})["ok"] is True
    assert [m["msg"] for m in events(room["bob"], "say")] == ["after it"]


def test_rate_limit_counts_across_a_users_tabs(app, room):
    app.extensions["chat"].limits = type(app.extensions["chat"].limits)("3/60")
    acks = [say(room["alice"], {"to": "all", "msg": "a"}), say(room["alice2"], {"to": "all", "msg": "b"})]
    acks.append(say(room["alice"], {"to": "all", "msg": "c"}))
    acks.append(say(room["alice2"], {"to": "all", "msg": "d"}))
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[-1]["error"] == "rate_limited"
    assert [m["msg"] for m in events(room["bob"], "say")] == ["a", "b", "c"]
    assert say(room["bob"], {"to": "all", "msg": "bob is not limited"})["ok"] is True


def test_invalid_messages_do_not_use_up_the_rate_limit(app, room):
    app.extensions["chat"].limits = type(app.extensions["chat"].limits)("1/60")
    assert say(room["alice"], {"to": "all", "msg": ""})["error"] == "empty"
    assert say(room["alice"], {"to": "all", "msg": "ok"})["ok"] is True


def test_default_rate_limit_is_twenty_per_ten_seconds(room):
    acks = [say(room["alice"], {"to": "all", "msg": str(n)}) for n in range(21)]
    assert all(a["ok"] for a in acks[:20])
    assert acks[20]["error"] == "rate_limited"


def test_public_typing_reaches_others_not_the_typists_tabs(room):
    room["alice"].emit("typing", {"to": "all"}, namespace="/chat")
    assert events(room["bob"], "typing") == [{"from": "alice", "to": "all"}]
    assert events(room["carol"], "typing") == [{"from": "alice", "to": "all"}]
    assert events(room["alice2"]) == []
    assert events(room["alice"]) == []


def test_private_typing_reaches_only_the_recipient(room):
    room["bob"].emit("typing", {"to": "Alice"}, namespace="/chat")
    assert events(room["alice"], "typing") == [{"from": "bob", "to": "alice"}]
    assert events(room["alice2"], "typing") == [{"from": "bob", "to": "alice"}]
    assert events(room["carol"]) == []
    assert events(room["bob"]) == []


def test_typing_is_relayed_at_most_once_a_second(room):
    for _ in range(5):
        room["alice"].emit("typing", {"to": "all"}, namespace="/chat")
    assert len(events(room["bob"], "typing")) == 1


@pytest.mark.parametrize("payload", [{"to": "nobody"}, {"to": 3}, "all", None])
def test_typing_to_unknown_targets_is_ignored(room, payload):
    room["alice"].emit("typing", payload, namespace="/chat")
    assert events(room["bob"]) == []
    assert room["alice"].is_connected("/chat")


def _watch_transactions(app):
    """The number of messages in each transaction the store is handed from now on (the real store).

    In one call (``add_many``) or, on PostgreSQL, sent first and answered later (``begin``).
    """
    store, sizes = app.extensions["chat"].store, []

    def watch(name):
        method = getattr(store, name)

        def watched(drafts, *args):
            sizes.append(len(drafts))
            return method(drafts, *args)

        setattr(store, name, watched)

    watch("add_many")
    watch("begin")
    return sizes


def _two_messages_apart(room, seconds, bobs="b"):
    """alice, then bob ``seconds`` later (alice still waiting for her ack), each to carol; their acks."""
    acks = {}
    alice = threading.Thread(
        target=lambda: acks.update(alice=say(room["alice"], {"to": "carol", "msg": "a"})), daemon=True
    )
    alice.start()
    time.sleep(seconds)
    acks["bob"] = say(room["bob"], {"to": "carol", "msg": bobs})
    alice.join(5)
    return acks


@pytest.mark.parametrize("app", [{"CHAT_COMMIT_WINDOW_MS": 1000}], indirect=True)
def test_private_messages_sent_within_the_commit_window_share_one_transaction(app, room):
    sizes = _watch_transactions(app)
    acks = _two_messages_apart(room, 0.05)
    assert sizes == [2]
    assert acks["alice"]["ok"] is True and acks["bob"]["ok"] is True
    assert acks["alice"]["id"] < acks["bob"]["id"]
    received = events(room["carol"], "say")
    assert [(m["from"], m["msg"], m["id"]) for m in received] == [
        ("alice", "a", acks["alice"]["id"]),
        ("bob", "b", acks["bob"]["id"]),
    ]
    assert [m["msg"] for m in events(room["alice2"], "say")] == ["a"]  # not bob's
    assert events(room["alice"], "say") == [] and events(room["bob"], "say") == []


@pytest.mark.parametrize("app", [{"CHAT_COMMIT_WINDOW_MS": 1000}], indirect=True)
def test_a_message_no_database_can_store_is_refused_alone_not_with_its_window(app, room):
    """A lone surrogate (valid JSON, not Unicode) failed the transaction it shared: now refused first."""
    sizes = _watch_transactions(app)
    acks = _two_messages_apart(room, 0.05, bobs="bad \udc00")
    assert acks["bob"]["ok"] is False and acks["bob"]["error"] == "bad_request"
    assert acks["alice"]["ok"] is True
    assert sizes == [1]
    assert [m["msg"] for m in events(room["carol"], "say")] == ["a"]


@pytest.mark.parametrize("app", [{"CHAT_COMMIT_WINDOW_MS": 0}], indirect=True)
def test_without_a_commit_window_a_private_message_is_stored_at_once(app, room):
    sizes = _watch_transactions(app)
    acks = _two_messages_apart(room, 0.05)
    assert sizes == [1, 1]
    assert acks["alice"]["ok"] is True and acks["bob"]["ok"] is True
    assert [m["msg"] for m in events(room["carol"], "say")] == ["a", "b"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("app", [{"CHAT_COMMIT_WINDOW_MS": 60_000}], indirect=True)
def test_public_messages_do_not_wait_for_the_commit_window(app, room):
    """Their deliveries dwarf a commit (service._window_for): a minute's window, and none waits for it."""
    sizes = _watch_transactions(app)
    acks = []
    sender = threading.Thread(
        target=lambda: acks.extend(say(room["alice"], {"to": "all", "msg": "now"}) for _ in "ab"), daemon=True
    )
    sender.start()
    sender.join(10)
    assert not sender.is_alive(), "a public message waited for the commit window"
    assert [ack["ok"] for ack in acks] == [True, True] and sizes == [1, 1]
    assert [m["msg"] for m in events(room["carol"], "say")] == ["now", "now"]
