"""LocalPresence on its own: connect and disconnect are exact mirrors."""

from app.chat.presence import LocalPresence, OnlineUser

ALICE = OnlineUser(1, "alice")
BOB = OnlineUser(2, "Bob")


def test_first_and_last_socket_are_the_edges():
    presence = LocalPresence()
    assert presence.connect(ALICE, "a1").edge is True
    assert presence.connect(ALICE, "a2").edge is False
    assert presence.disconnect("a1").edge is False
    change = presence.disconnect("a2")
    assert change.edge is True and change.user == ALICE and change.count == 0


def test_disconnect_undoes_connect_completely():
    presence = LocalPresence()
    presence.connect(ALICE, "a1")
    presence.disconnect("a1")
    assert presence.names() == []
    assert presence.find("alice") is None
    assert presence.sids_of(ALICE.id) == []
    assert presence.user_of("a1") is None


def test_unknown_sid_disconnect_is_ignored():
    assert LocalPresence().disconnect("nope") is None


def test_names_sorted_ignoring_case_and_found_ignoring_case():
    presence = LocalPresence()
    presence.connect(ALICE, "a1")
    presence.connect(BOB, "b1")
    presence.connect(OnlineUser(3, "carol"), "c1")
    assert presence.names() == ["alice", "Bob", "carol"]
    assert presence.find("BOB") == BOB
    assert presence.user_of("b1") == BOB
    assert presence.connect(BOB, "b2").count == 3
