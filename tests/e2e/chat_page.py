"""What a person does and sees on the chat page, in Playwright terms (shared by the e2e tests)."""

import re
import uuid

from playwright.sync_api import expect

SENT = re.compile(r"\bsent\b")
PENDING = re.compile(r"\bpending\b")
FAILED = re.compile(r"\bfailed\b")
PRIVATE = re.compile(r"\bprivate\b")


def send(page, text):
    """Type ``text`` into the composer and press Enter."""
    page.fill("#input", text)
    page.press("#input", "Enter")


def speak_to(page, name):
    """Click ``name`` in the online list (``all`` is "everyone"): the next messages go there."""
    page.click(f'#users .user[data-user="{name}"] button')
    expect(page.locator("#say-to")).to_have_text("everyone" if name == "all" else name)


def message(page, text):
    """The chat lines (not system notices) whose text is exactly ``text``."""
    return page.locator("#messages .msg:not(.system)").filter(has=page.get_by_text(text, exact=True))


def notice(page, text):
    """The system notices whose text is exactly ``text``."""
    return page.locator("#messages .msg.system").filter(has=page.get_by_text(text, exact=True))


def online_entry(page, name):
    """``name``'s entry in the online list."""
    return page.locator(f'#users .user[data-user="{name}"]')


def message_texts(page):
    """The text of every chat line, top to bottom."""
    return page.locator("#messages .msg:not(.system) > .text").all_text_contents()


def shown_ids(page):
    """The data-id of every chat line that has one, top to bottom, as ints."""
    return [
        int(i)
        for i in page.eval_on_selector_all("#messages .msg[data-id]", "els => els.map(e => e.dataset.id)")
    ]


def presence_notices(page, name):
    """The "came online" / "went offline" notices about ``name``, in order, as "online"/"offline"."""
    texts = page.locator("#messages .msg.system > .text").all_text_contents()
    kinds = {f"{name} came online": "online", f"{name} went offline": "offline"}
    return [kinds[text] for text in texts if text in kinds]


def barrier(sender, *watchers):
    """A public marker from ``sender`` reaches every watcher.

    The server delivers to each socket in order, so whatever it sent a watcher
    because of earlier actions has arrived by then: asserting that something
    did NOT arrive needs no sleep.
    """
    marker = f"marker {uuid.uuid4().hex[:8]}"
    send(sender, marker)
    expect(message(sender, marker)).to_have_class(SENT)
    for watcher in watchers:
        expect(message(watcher, marker)).to_have_count(1)
    return marker


def assert_in_order(page, texts):
    """Each of ``texts`` is shown exactly once, in this order (other lines may come between)."""
    shown = message_texts(page)
    for text in texts:
        assert shown.count(text) == 1, f"{text!r} is shown {shown.count(text)} times: {shown}"
    positions = [shown.index(text) for text in texts]
    assert positions == sorted(positions), f"out of order: {shown}"


def assert_ids_ascending(page):
    """The pane is in id order and no id is shown twice."""
    ids = shown_ids(page)
    assert ids == sorted(set(ids)), f"ids out of order or doubled: {ids}"
