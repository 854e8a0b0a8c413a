"""Nothing lost: network blips, a server restart, refused and unacknowledged sends, paging back."""

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from .chat_page import (
    FAILED,
    PENDING,
    SENT,
    assert_ids_ascending,
    assert_in_order,
    barrier,
    message,
    message_texts,
    notice,
    send,
)
from .conftest import Crowd, wait_online

pytestmark = pytest.mark.browser

# How long a reconnect may take: socket.io-client backs off up to 5 s (+-50 %).
RECONNECT_MS = 15_000
SAY_FRAME = re.compile(r'^42/chat,(\d+)(\["say".*)$', re.S)


def unique(text):
    return f"{text} {uuid.uuid4().hex[:6]}"


def test_network_blip_loses_nothing(people, shots):
    _alice, pa = people.join("alice")
    bob, pb = people.join("bob")
    before = unique("before the blip")
    send(pa, before)
    expect(message(pb, before)).to_have_count(1)
    pb.evaluate("window.__samePage = true")

    # Chromium's offline emulation closes bob's open websocket at once (checked:
    # alice hears that bob went offline), so this is a real drop and reconnect.
    bob.context.set_offline(True)
    expect(pb.locator("#conn-state")).to_have_text("reconnecting…")
    expect(notice(pa, f"{bob.name} went offline")).to_have_count(1)

    missed = [unique(f"while bob was away {n}") for n in (1, 2, 3)]
    for text in missed:
        send(pa, text)
    for text in missed:
        expect(message(pa, text)).to_have_class(SENT)  # stored: the server acknowledged it
    shots.take(pb, "offline")
    for text in missed:
        expect(message(pb, text)).to_have_count(0)

    bob.context.set_offline(False)
    expect(pb.locator("#conn-state")).to_have_text("online", timeout=RECONNECT_MS)
    for text in missed:
        expect(message(pb, text)).to_have_count(1)
    assert_in_order(pb, [before, *missed])
    assert pb.evaluate("window.__samePage") is True, "the page was reloaded"

    # Live messages go on after the catch-up, still once each and in order.
    after = unique("after the blip")
    send(pa, after)
    expect(message(pb, after)).to_have_count(1)
    assert_in_order(pb, [before, *missed, after])
    assert_ids_ascending(pb)
    shots.take(pb, "back")


def test_message_written_while_server_is_down_is_sent_after_restart(chromium, own_server, shots):
    server = own_server()
    crowd = Crowd(chromium, server)
    try:
        _alice, pa = crowd.join("alice")
        _bob, pb = crowd.join("bob")
        server.kill()
        expect(pa.locator("#conn-state")).to_have_text("reconnecting…")

        text = unique("written while the server was down")
        send(pa, text)
        line = message(pa, text)
        expect(line).to_have_class(PENDING)
        expect(line).not_to_have_class(SENT)
        shots.take(pa, "pending")

        server.restart()  # same port, same database, same secret key
        expect(pa.locator("#conn-state")).to_have_text("online", timeout=RECONNECT_MS)
        expect(line).to_have_class(SENT, timeout=RECONNECT_MS)
        expect(line).not_to_have_class(PENDING)
        expect(pb.locator("#conn-state")).to_have_text("online", timeout=RECONNECT_MS)
        expect(message(pb, text)).to_have_count(1)
        expect(message(pa, text)).to_have_count(1)
        shots.take(pa, "sent")

        # Stored exactly once: a fresh page shows it once.
        pb.reload()
        wait_online(pb)
        expect(message(pb, text)).to_have_count(1)
    finally:
        crowd.close()


def says_in(payload):
    """The ``say`` payloads in an engine.io payload (polling batches packets with \\x1e)."""
    if not isinstance(payload, str):
        return []
    frames = (SAY_FRAME.match(packet) for packet in payload.split("\x1e"))
    return [json.loads(frame.group(2))[1] for frame in frames if frame]


def record_says(context):
    """Every ``say`` the pages of ``context`` send, over websocket or long-polling, in order."""
    sent = []

    def on_request(request):
        if "/socket.io/" in request.url and request.method == "POST":
            sent.extend(says_in(request.post_data))

    def on_page(page):
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.extend(says_in(payload))))

    context.on("request", on_request)
    context.on("page", on_page)
    return sent


def test_refused_message_shows_why_and_retry_resends_the_same_cid(chromium, own_server, shots):
    server = own_server(CHAT_RATE_LIMIT="2/3")
    crowd = Crowd(chromium, server)
    try:
        alice = crowd.user("alice")
        says = record_says(alice.context)
        pa = alice.register()
        _bob, pb = crowd.join("bob")

        texts = [unique(f"quick {n}") for n in (1, 2, 3)]
        for text in texts:
            send(pa, text)
        refused = message(pa, texts[2])
        expect(refused).to_have_class(FAILED)
        expect(refused.locator(".error")).to_contain_text("too fast")
        expect(refused.locator("button.retry")).to_be_visible()
        expect(message(pa, texts[0])).to_have_class(SENT)
        expect(message(pa, texts[1])).to_have_class(SENT)
        shots.take(pa, "failed")

        # The window moves on; the retry sends the very same message (same cid).
        pa.wait_for_timeout(3200)
        refused.locator("button.retry").click()
        expect(refused).to_have_class(SENT)
        expect(refused).not_to_have_class(FAILED)
        expect(refused.locator(".error")).to_have_count(0)
        expect(message(pb, texts[2])).to_have_count(1)
        assert_in_order(pb, texts)
        shots.take(pa, "retried")

        cids = [say["cid"] for say in says if say["msg"] == texts[2]]
        assert len(cids) == 2 and cids[0] == cids[1], says
        others = [say["cid"] for say in says if say["msg"] in texts[:2]]
        assert len(set(others)) == 2 and cids[0] not in others, "each message needs its own cid"
    finally:
        crowd.close()


class AckLoser:
    """Routes a context's websockets through the test, to lose the server's ack of one message.

    ``lose(text, close=True)``: the ack of the next ``say`` of ``text`` never
    reaches the page; with ``close`` the connection dies with it, as on a
    dying network. Everything else passes through untouched.
    """

    def __init__(self, context):
        self.text = None
        self.close = True
        self.ack_id = None
        self.lost = False
        context.route_web_socket(re.compile(r"/socket\.io/"), self._route)

    def lose(self, text, close=True):
        self.text, self.close = text, close

    def _route(self, ws):
        server = ws.connect_to_server()

        def to_server(payload):
            match = SAY_FRAME.match(payload) if isinstance(payload, str) else None
            if match and not self.lost and json.loads(match.group(2))[1]["msg"] == self.text:
                self.ack_id = match.group(1)
            server.send(payload)

        def to_page(payload):
            if isinstance(payload, str) and self.ack_id and payload.startswith(f"43/chat,{self.ack_id}["):
                self.ack_id = None
                self.lost = True
                if self.close:
                    ws.close()
                    server.close()
                return
            ws.send(payload)

        ws.on_message(to_server)
        server.on_message(to_page)


WATCH_COUNT = """text => {
  const count = () => [...document.querySelectorAll("#messages .msg .text")]
    .filter((el) => el.textContent === text).length;
  window.__most = count();
  new MutationObserver(() => { window.__most = Math.max(window.__most, count()); })
    .observe(document.getElementById("messages"), { childList: true, subtree: true });
}"""


def test_lost_acknowledgement_is_resent_and_shown_once(people, shots):
    """A message is stored but its ack is lost with the connection: the resend (same cid) is a duplicate."""
    alice = people.user("alice")
    loser = AckLoser(alice.context)
    says = record_says(alice.context)
    pa = alice.register()
    _bob, pb = people.join("bob")

    text = unique("the ack of this one gets lost")
    loser.lose(text)
    pa.evaluate(WATCH_COUNT, text)
    send(pa, text)
    expect(pa.locator("#conn-state")).to_have_text("reconnecting…")
    expect(pa.locator("#conn-state")).to_have_text("online", timeout=RECONNECT_MS)
    line = message(pa, text)
    expect(line).to_have_class(SENT)
    assert loser.lost, "the ack was never lost: the test did not test anything"
    cids = [say["cid"] for say in says if say["msg"] == text]
    assert len(cids) == 2 and cids[0] == cids[1], says
    expect(message(pb, text)).to_have_count(1)
    barrier(pa, pb)
    expect(line).to_have_count(1)
    assert pa.evaluate("window.__most") == 1, "the message was on screen twice for a while"
    assert_ids_ascending(pa)
    shots.take(pa, "once")

    pa.reload()
    wait_online(pa)
    expect(message(pa, text)).to_have_count(1)


def test_reload_before_the_ack_sends_the_message_once(people, shots):
    """A reload while a message awaits its ack: the new page resends it (same cid), and shows it once."""
    alice = people.user("alice")
    loser = AckLoser(alice.context)
    says = record_says(alice.context)
    pa = alice.register()
    _bob, pb = people.join("bob")

    text = unique("sent just before a reload")
    loser.lose(text, close=False)
    send(pa, text)
    expect(message(pa, text)).to_have_class(PENDING)
    expect(message(pb, text)).to_have_count(1)  # stored and delivered; only alice's ack is lost
    # Watch from the first moment of the reloaded page.
    pa.add_init_script(
        f"document.addEventListener('DOMContentLoaded', () => ({WATCH_COUNT})({json.dumps(text)}))"
    )
    pa.reload()
    wait_online(pa)
    expect(message(pa, text)).to_have_class(SENT)
    cids = [say["cid"] for say in says if say["msg"] == text]
    assert len(cids) == 2 and cids[0] == cids[1], says
    barrier(pa, pb)
    expect(message(pa, text)).to_have_count(1)
    expect(message(pb, text)).to_have_count(1)
    assert pa.evaluate("window.__most") == 1, "the message was on screen twice for a while"
    expect(pa.locator("#messages .msg.pending")).to_have_count(0)
    shots.take(pa, "after-reload")


def test_load_older_pages_back_keeping_the_scroll_position(chromium, own_server, shots):
    server = own_server(CHAT_RATE_LIMIT="0")
    crowd = Crowd(chromium, server)
    try:
        _alice, pa = crowd.join("alice")
        texts = [f"numbered {n:02d}" for n in range(1, 61)]
        for text in texts:
            send(pa, text)
        expect(message(pa, texts[-1])).to_have_class(SENT)
        expect(pa.locator("#messages .msg.pending")).to_have_count(0)

        _bob, pb = crowd.join("bob")
        # The latest 50 on entry, and a way back to the 10 before them.
        expect(message(pb, texts[-1])).to_have_count(1)
        shown = message_texts(pb)
        assert shown == texts[10:], shown
        older = pb.locator("#load-older")
        expect(older).to_be_visible()

        pb.locator("#messages").evaluate("pane => { pane.scrollTop = 0; }")
        anchor = message(pb, texts[10])
        top_before = anchor.bounding_box()["y"]
        shots.take(pb, "before")
        older.click()
        expect(message(pb, texts[0])).to_have_count(1)
        assert message_texts(pb) == texts
        assert_ids_ascending(pb)
        expect(older).to_be_hidden()  # nothing older than the first message
        # What the reader was looking at stays where it was.
        assert abs(anchor.bounding_box()["y"] - top_before) < 5
        shots.take(pb, "after")

        # Paged-in messages are not drawn again by a reload or a reconnect.
        send(pa, "one more")
        expect(message(pb, "one more")).to_have_count(1)
        assert message_texts(pb) == [*texts, "one more"]
    finally:
        crowd.close()
