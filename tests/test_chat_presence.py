"""Presence over the /chat namespace: who hears about whom, and when."""

import time

import pytest

from tests.conftest import events


def test_anonymous_socket_is_refused(app, client, connect):
    sock = connect(client)
    assert not sock.is_connected("/chat")


def test_connecting_socket_gets_the_full_list(browser, connect):
    alice, bob = browser("alice"), browser("Bob")
    connect(alice)
    sock = connect(bob)
    (notice,) = events(sock, "online")
    assert notice["user"] == "Bob"
    assert notice["users"] == ["alice", "Bob"]  # sorted ignoring case
    assert notice["count"] == 2
    assert notice["at"].endswith("Z") and len(notice["at"]) == len("2026-01-01T00:00:00.000Z")


def test_first_connection_is_announced_to_everyone_else_without_the_list(browser, connect):
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    events(watcher)
    connect(bob)
    (notice,) = events(watcher, "online")
    assert notice["user"] == "bob"
    assert notice["count"] == 2
    assert "users" not in notice


def test_second_tab_tells_nobody_else(browser, connect):
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    first = connect(bob)
    events(watcher)
    events(first)
    second = connect(bob)
    assert events(watcher) == []
    assert events(first) == []  # bob's own first tab hears nothing either
    (own,) = events(second, "online")
    assert own["users"] == ["alice", "bob"]
    assert own["count"] == 2


def test_offline_only_when_the_last_tab_closes(browser, connect):
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    tab1, tab2 = connect(bob), connect(bob)
    events(watcher)
    tab1.disconnect(namespace="/chat")
    assert events(watcher) == []
    tab2.disconnect(namespace="/chat")
    (notice,) = events(watcher, "offline")
    assert notice == {"user": "bob", "at": notice["at"], "count": 1}


def test_refresh_keeps_the_user_online(browser, connect):
    # A reloaded page opens its new socket before the old one has gone.
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    old = connect(bob)
    events(watcher)
    new = connect(bob)
    assert [n["users"] for n in events(new, "online")] == [["alice", "bob"]]
    old.disconnect(namespace="/chat")
    assert events(watcher) == []
    assert events(new) == []


def test_reconnect_after_leaving_is_announced_again(browser, connect):
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    connect(bob).disconnect(namespace="/chat")
    events(watcher)
    connect(bob)
    assert [n["user"] for n in events(watcher, "online")] == ["bob"]


def test_count_follows_users_not_sockets(browser, connect):
    alice, bob, carol = browser("alice"), browser("bob"), browser("carol")
    connect(alice)
    connect(alice)
    connect(bob)
    sock = connect(carol)
    (own,) = events(sock, "online")
    assert own["count"] == 3
    assert own["users"] == ["alice", "bob", "carol"]


GRACE = {"CHAT_OFFLINE_GRACE": 0.3}


def wait_for_events(sock, name, timeout=3.0):
    """Poll ``sock`` until it has received ``name`` events (the grace timer runs in a thread)."""
    deadline = time.monotonic() + timeout
    found = []
    while time.monotonic() < deadline and not found:
        found = events(sock, name)
        time.sleep(0.02)
    return found


@pytest.mark.parametrize("app", [GRACE], indirect=True)
def test_a_refresh_within_the_grace_period_announces_nothing(browser, connect):
    # Browsers close the old page's socket before the reloaded page connects.
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    connect(bob).disconnect(namespace="/chat")
    connect(bob)
    events(watcher)
    time.sleep(0.6)  # well past the grace period: the cancelled notice must stay cancelled
    assert events(watcher) == []


@pytest.mark.parametrize("app", [GRACE], indirect=True)
def test_leaving_is_announced_after_the_grace_period(browser, connect):
    alice, bob = browser("alice"), browser("bob")
    watcher = connect(alice)
    tab = connect(bob)
    events(watcher)
    tab.disconnect(namespace="/chat")
    assert events(watcher) == []  # not yet
    (notice,) = wait_for_events(watcher, "offline")
    assert notice["user"] == "bob"
    assert notice["count"] == 1
