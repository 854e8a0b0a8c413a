"""The chat over a real transport: gunicorn (eventlet, gevent, gthread), websockets, cookies, Origin."""

import threading

import pytest
import requests
import websocket
from socketio.exceptions import ConnectionError as SocketConnectionError

from .conftest import ALLOWED_ORIGIN, CHAT, WAIT

pytestmark = pytest.mark.live


def about(name):
    """Predicate: a presence notice about ``name``."""
    return lambda notice: notice["user"] == name


def test_socket_needs_the_login_cookie(live):
    """A socket without the session cookie is refused; with it, the user is in the online list."""
    anonymous = live.tab(connect=False)
    with pytest.raises(SocketConnectionError):
        anonymous.connect()
    assert anonymous.events("connect_error") == [{"message": "unauthorized"}]
    assert not anonymous.connected

    alice = live.browser("alice")
    tab = live.tab(alice)
    first = tab.wait_for("online")
    assert first["user"] == alice.username
    assert alice.username in first["users"]


def test_socket_from_another_origin_is_refused(live, server):
    """Another site cannot open a socket with the user's cookie; the configured and own origins can."""
    alice = live.browser("alice")

    evil = live.tab(alice, origin="http://evil.example", connect=False)
    with pytest.raises(SocketConnectionError):
        evil.connect()
    assert not evil.connected
    assert evil.events("online") == []

    for origin in (ALLOWED_ORIGIN, server.base_url):
        tab = live.tab(alice, origin=origin)
        assert tab.wait_for("online")["user"] == alice.username, origin


def test_oversized_frame_closes_only_that_socket(live, server):
    """Too long is an error ack; a frame over 64 KiB closes that socket only, the room goes on."""
    alice, bob = live.browser("alice"), live.browser("bob")
    alice_tab, bob_tab = live.tab(alice), live.tab(bob)

    too_long = alice_tab.say("all", "x" * 3000)
    assert too_long["ok"] is False
    assert too_long["error"] == "too_long"
    live.sync(alice_tab, bob_tab)
    assert alice_tab.connected
    assert bob_tab.events("say", lambda message: len(message["msg"]) > 2000) == []

    bob_tab.client.emit("say", {"to": "all", "msg": "x" * 100_000}, namespace=CHAT)
    assert bob_tab.closed.wait(WAIT), "the server kept a socket that sent a 100 KB frame"
    alice_tab.wait_for("offline", about(bob.username))

    assert alice_tab.connected
    carol = live.browser("carol")
    carol_tab = live.tab(carol)
    assert carol_tab.say("all", "still here")["ok"] is True
    assert alice_tab.wait_for("say", lambda message: message["msg"] == "still here")["from"] == carol.username
    assert carol_tab.events("say", lambda message: len(message["msg"]) > 2000) == []
    assert requests.get(server.url("/healthz"), timeout=WAIT).status_code == 200


def test_presence_counts_tabs_not_sockets(live):
    """Two tabs are one ``online`` and, when both have closed, one ``offline``."""
    bob, carol = live.browser("bob"), live.browser("carol")
    bob_tab, carol_tab = live.tab(bob), live.tab(carol)
    alice = live.browser("alice")
    is_alice = about(alice.username)

    first_tab = live.tab(alice)
    second_tab = live.tab(alice)
    live.sync(carol_tab, bob_tab)
    online = bob_tab.events("online", is_alice)
    assert len(online) == 1, online
    assert bob.username in second_tab.wait_for("online")["users"]

    first_tab.close()
    live.sync(second_tab, bob_tab)
    assert bob_tab.events("offline", is_alice) == []

    second_tab.close()
    offline = bob_tab.wait_for("offline", is_alice)
    assert offline["count"] == online[0]["count"] - 1
    live.sync(carol_tab, bob_tab)
    assert len(bob_tab.events("offline", is_alice)) == 1
    assert len(bob_tab.events("online", is_alice)) == 1


def test_refreshing_the_page_is_not_leaving(live):
    """A new page's socket arriving before the old one leaves announces nothing."""
    bob, alice = live.browser("bob"), live.browser("alice")
    bob_tab = live.tab(bob)
    is_alice = about(alice.username)
    old_page = live.tab(alice)
    bob_tab.wait_for("online", is_alice)

    new_page = live.tab(alice)
    old_page.close()
    live.sync(new_page, bob_tab)
    assert len(bob_tab.events("online", is_alice)) == 1
    assert bob_tab.events("offline", is_alice) == []


def test_public_and_private_messages(live):
    """Public reaches everyone but the sending tab; private reaches the two people only."""
    alice, bob, carol = live.browser("alice"), live.browser("bob"), live.browser("carol")
    alice_tab, alice_other_tab = live.tab(alice), live.tab(alice)
    bob_tab, carol_tab = live.tab(bob), live.tab(carol)

    ack = alice_tab.say("all", "hello everyone")
    assert ack["ok"] is True
    for tab in (bob_tab, carol_tab, alice_other_tab):
        public = tab.wait_for("say", lambda message: message["msg"] == "hello everyone")
        assert public == {
            "id": ack["id"],
            "from": alice.username,
            "to": "all",
            "msg": "hello everyone",
            "at": ack["at"],
        }

    ack = alice_tab.say(bob.username, "just for you")
    assert ack["ok"] is True
    for tab in (bob_tab, alice_other_tab):
        private = tab.wait_for("say", lambda message: message["msg"] == "just for you")
        assert private["to"] == bob.username
        assert private["from"] == alice.username
        assert private["id"] == ack["id"]

    live.sync(alice_tab, carol_tab, bob_tab, alice_other_tab)
    assert carol_tab.events("say", lambda message: message["to"] != "all") == []
    assert alice_tab.events("say") == [], "the sender's own tab got its messages echoed"
    assert len(bob_tab.events("say", lambda message: message["msg"] == "just for you")) == 1


def test_logout_closes_every_tab_of_that_user(live):
    """Logging out over HTTP closes all of that user's sockets; the others see them leave once."""
    alice, bob = live.browser("alice"), live.browser("bob")
    bob_tab = live.tab(bob)
    alice_tabs = [live.tab(alice), live.tab(alice)]
    is_alice = about(alice.username)
    bob_tab.wait_for("online", is_alice)

    response = alice.logout()
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"

    for tab in alice_tabs:
        assert tab.closed.wait(WAIT), "a tab stayed connected after its user logged out"
    bob_tab.wait_for("offline", is_alice)
    carol = live.browser("carol")
    live.sync(live.tab(carol), bob_tab)
    assert len(bob_tab.events("offline", is_alice)) == 1

    after_logout = live.tab(alice, connect=False)
    with pytest.raises(SocketConnectionError):
        after_logout.connect()
    assert after_logout.events("connect_error") == [{"message": "unauthorized"}]


def websocket_handshake(server, extensions):
    """Open an Engine.IO websocket offering ``extensions``; return the response headers."""
    url = server.base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    connection = websocket.create_connection(
        url, header=[f"Sec-WebSocket-Extensions: {extensions}"], origin=server.base_url, timeout=WAIT
    )
    try:
        return {name.lower(): value for name, value in connection.getheaders().items()}
    finally:
        connection.close()


def test_websocket_compression_is_declined(server):
    """Browsers always offer permessage-deflate; compressing small chat frames costs more than it saves."""
    headers = websocket_handshake(server, "permessage-deflate; client_max_window_bits")
    assert "sec-websocket-extensions" not in headers


def test_closing_sockets_leaves_no_noise_in_the_log(live, server):
    """Eventlet's "socket shutdown error: [Errno 9]" on every close is filtered out of the log."""
    alice = live.browser("alice")
    for _ in range(3):
        live.tab(alice).close()
    bob = live.browser("bob")
    live.sync(live.tab(bob), live.tab(bob))
    assert "socket shutdown error" not in server.log()


def test_messages_sent_at_once_reach_everyone_once_in_id_order(live):
    """Many people sending at the same moment (stored together): nothing lost, doubled or misrouted."""
    people = [live.browser(f"crowd{n}") for n in range(5)]
    tabs = [live.tab(person) for person in people]
    names = [person.username for person in people]
    sent = {}  # message text -> (sender index, recipient name or "all", ack)

    def chatter(index):
        for n in range(10):
            offset = 1 + (n // 2) % (len(names) - 1)  # never oneself
            to = "all" if n % 2 == 0 else names[(index + offset) % len(names)]
            text = f"{names[index]} #{n}"
            sent[text] = (index, to, tabs[index].send(to, text))

    threads = [threading.Thread(target=chatter, args=(index,)) for index in range(len(tabs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * WAIT)
    assert len(sent) == 5 * 10
    acked_ids = [ack["id"] for _sender, _to, ack in sent.values()]
    assert len(set(acked_ids)) == len(acked_ids), "two messages were given one id"

    live.sync(tabs[0], *tabs[1:])
    for index, tab in enumerate(tabs):
        received = [message for message in tab.events("say") if not message["msg"].startswith("marker ")]
        expected = {
            text
            for text, (sender, to, _ack) in sent.items()
            if sender != index and to in ("all", names[index])
        }
        texts = [message["msg"] for message in received]
        assert sorted(texts) == sorted(expected), f"{names[index]} got the wrong messages"
        ids = [message["id"] for message in received]
        assert ids == sorted(ids), f"{names[index]} got messages out of id order"
        for message in received:
            sender, to, ack = sent[message["msg"]]
            assert (message["id"], message["from"], message["to"]) == (ack["id"], names[sender], to)

    # All of it was stored: fewer than the 50 a history holds are visible to one person.
    later = live.tab(people[0])
    stored = [m["msg"] for m in later.history()["messages"] if m["msg"] in sent]  # not other tests' messages
    visible = {
        text for text, (sender, to, _ack) in sent.items() if to == "all" or names[0] in (to, names[sender])
    }
    assert sorted(stored) == sorted(visible)
