"""The chat page in headless Chromium: people, messages, presence, history, as a person sees them."""

import json
import time
import uuid

import pytest
from playwright.sync_api import expect

from .chat_page import (
    PRIVATE,
    SENT,
    assert_ids_ascending,
    assert_in_order,
    barrier,
    message,
    message_texts,
    notice,
    online_entry,
    presence_notices,
    send,
    speak_to,
)
from .conftest import wait_online

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'


def test_public_and_private_messages_between_two_people(people, shots):
    xiaoming, pa = people.join("小明")
    bob, pb = people.join("bob")
    expect(online_entry(pa, bob.name)).to_have_count(1)
    expect(online_entry(pb, xiaoming.name)).to_have_count(1)
    expect(pb.locator("#users .user.me")).to_have_attribute("data-user", bob.name)

    # Public, from 小明 to everyone.
    send(pa, "大家好, hello everyone")
    line = message(pb, "大家好, hello everyone")
    expect(line).to_have_count(1)
    expect(line).not_to_have_class(PRIVATE)
    expect(line.locator(".who")).to_have_text(xiaoming.name)
    expect(line.locator(".whom")).to_have_text("everyone")
    own = message(pa, "大家好, hello everyone")
    expect(own).to_have_class(SENT)
    expect(own.locator(".who")).to_have_text("You")

    # carol joins before the private message, so she would get it live if it leaked.
    carol, pc = people.join("carol")
    expect(online_entry(pb, carol.name)).to_have_count(1)

    # Private, from bob to 小明: chosen by clicking 小明 in the online list.
    speak_to(pb, xiaoming.name)
    expect(pb.locator("#say-to")).to_have_class(PRIVATE)
    send(pb, "a secret for 小明")
    secret = message(pa, "a secret for 小明")
    expect(secret).to_have_count(1)
    expect(secret).to_have_class(PRIVATE)
    expect(secret.locator(".who")).to_have_text(bob.name)
    expect(secret.locator(".whom")).to_have_text("you")
    mine = message(pb, "a secret for 小明")
    expect(mine).to_have_class(PRIVATE)
    expect(mine).to_have_class(SENT)
    expect(mine.locator(".whom")).to_have_text(xiaoming.name)

    # Markup is shown as text and never runs.
    speak_to(pa, "all")
    send(pa, XSS)
    expect(message(pb, XSS)).to_have_count(1)
    expect(message(pb, XSS).locator(".text")).to_have_text(XSS)

    # Whatever the server sent carol because of the above has arrived by now.
    barrier(pa, pb, pc)
    shots.take(pa, "xiaoming")
    shots.take(pb, "bob")
    shots.take(pc, "carol")
    assert "a secret for 小明" not in pc.locator("#messages").inner_text()
    expect(message(pc, "大家好, hello everyone")).to_have_count(1)  # carol saw the public one in history
    for page in (pa, pb, pc):
        assert page.evaluate("window.__xss") is None
        expect(page.locator("#messages img")).to_have_count(0)


def test_online_list_follows_tabs_and_refresh(people, shots):
    bob, pb = people.join("bob")
    alice, first_tab = people.join("alice")
    expect(online_entry(pb, alice.name)).to_have_count(1)

    # A second tab of alice: bob still sees her once, and hears nothing new.
    second_tab = alice.open_tab()
    barrier(second_tab, pb)
    expect(online_entry(pb, alice.name)).to_have_count(1)
    assert presence_notices(pb, alice.name) == ["online"]

    # Closing one of her two tabs keeps her online.
    second_tab.close()
    barrier(first_tab, pb)
    expect(online_entry(pb, alice.name)).to_have_count(1)
    assert presence_notices(pb, alice.name) == ["online"]
    shots.take(pb, "one-tab-closed")

    # Closing the last one takes her off bob's list.
    first_tab.close()
    expect(online_entry(pb, alice.name)).to_have_count(0)
    expect(notice(pb, f"{alice.name} went offline")).to_have_count(1)
    assert presence_notices(pb, alice.name) == ["online", "offline"]

    # A refresh of her only tab: Chromium closes the old socket while unloading,
    # before the new page connects, so bob honestly sees offline then online.
    # What must hold: she is online afterwards, listed once.
    tab = alice.open_tab()
    expect(online_entry(pb, alice.name)).to_have_count(1)
    tab.reload()
    wait_online(tab)
    barrier(tab, pb)
    expect(online_entry(pb, alice.name)).to_have_count(1)
    notices = presence_notices(pb, alice.name)
    assert notices[-1] == "online", notices
    assert notices.count("online") == notices.count("offline") + 1, notices
    expect(online_entry(tab, bob.name)).to_have_count(1)
    shots.take(pb, "after-refresh")


def test_reload_shows_history_once(people, shots):
    alice, pa = people.join("alice")
    bob, pb = people.join("bob")
    send(pa, "history: public from alice")
    speak_to(pb, alice.name)
    send(pb, "history: private from bob")
    speak_to(pa, bob.name)
    send(pa, "history: private from alice")
    said = ["history: public from alice", "history: private from bob", "history: private from alice"]
    for text in said:
        expect(message(pa, text)).to_have_class(SENT if text.endswith("alice") else PRIVATE)
    barrier(pb, pa)
    before = message_texts(pa)

    pa.reload()
    wait_online(pa)
    for text in said:
        expect(message(pa, text)).to_have_count(1)
    assert_in_order(pa, said)
    assert message_texts(pa) == before, "the reloaded page shows other messages than before"
    assert_ids_ascending(pa)

    # Drawn like live ones: who, to whom, private or not.
    public = message(pa, "history: public from alice")
    expect(public.locator(".who")).to_have_text("You")
    expect(public.locator(".whom")).to_have_text("everyone")
    expect(public).not_to_have_class(PRIVATE)
    received = message(pa, "history: private from bob")
    expect(received).to_have_class(PRIVATE)
    expect(received.locator(".who")).to_have_text(bob.name)
    expect(received.locator(".whom")).to_have_text("you")
    sent = message(pa, "history: private from alice")
    expect(sent).to_have_class(PRIVATE)
    expect(sent.locator(".who")).to_have_text("You")
    expect(sent.locator(".whom")).to_have_text(bob.name)
    # Nobody was away: nothing is labelled as kept for later.
    expect(pa.locator("#messages .queued")).to_have_count(0)
    # Well under a page of history: nothing older to load.
    expect(pa.locator("#load-older")).to_be_hidden()
    shots.take(pa, "reloaded")


def test_private_message_to_someone_away_waits_for_them(people, shots):
    _alice, pa = people.join("alice")
    carol, pc = people.join("carol")
    speak_to(pa, carol.name)
    pc.close()
    expect(online_entry(pa, carol.name)).to_have_count(0)

    # carol is away: the message is kept for her, not refused.
    send(pa, "see this when you are back")
    expect(message(pa, "see this when you are back")).to_have_class(SENT)
    expect(pa.locator("#messages .msg.failed")).to_have_count(0)
    speak_to(pa, "all")
    send(pa, "said to everyone while carol was away")
    expect(message(pa, "said to everyone while carol was away")).to_have_class(SENT)

    pc = carol.open_tab()
    kept = message(pc, "see this when you are back")
    expect(kept).to_have_count(1)
    expect(kept).to_have_class(PRIVATE)
    expect(kept.locator(".queued")).to_have_text("arrived while you were away")
    # Only that one: a public message is simply history, and alice sees no label on her own.
    expect(message(pc, "said to everyone while carol was away")).to_have_count(1)
    expect(pc.locator("#messages .queued")).to_have_count(1)
    expect(pa.locator("#messages .queued")).to_have_count(0)
    shots.take(pc, "carol-back")


def test_each_message_is_sent_with_a_time_ordered_cid(people):
    """The page names every message with a UUID version 7, so one sender's cids grow with time.

    They reach the store's unique (sender, cid) index at the end of the
    sender's entries rather than anywhere among them (see ``newCid`` in chat.js).
    """
    alice = people.user("alice")
    alice.register()
    frames = []
    page = alice.context.new_page()
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: frames.append(payload)))
    page.goto("/")
    wait_online(page)
    texts = [f"cid check {number}" for number in range(3)]
    for text in texts:
        send(page, text)
        expect(message(page, text)).to_have_class(SENT)
        page.wait_for_timeout(5)  # the next one is sent in a later millisecond
    says = [json.loads(frame[frame.index("[") :]) for frame in frames if '["say",' in str(frame)]
    assert [payload["msg"] for _event, payload in says] == texts
    cids = [uuid.UUID(payload["cid"]) for _event, payload in says]
    assert [cid.version for cid in cids] == [7, 7, 7]
    assert [str(cid) for cid in cids] == [payload["cid"] for _event, payload in says]  # the canonical form
    assert [payload["cid"] for _event, payload in says] == sorted(payload["cid"] for _event, payload in says)
    assert len(set(cids)) == 3
    sent_at = [cid.int >> 80 for cid in cids]  # milliseconds since 1970
    assert all(abs(ms / 1000 - time.time()) < 60 for ms in sent_at)
