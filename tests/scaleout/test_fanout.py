"""Two processes, one chat room: presence, messages and catch-up do not depend on the process."""

import threading

import pytest

from tests.live.conftest import WAIT
from tests.support import wait_until

from .conftest import PRESENCE_TTL, about, said_by

pytestmark = pytest.mark.live


def test_users_on_different_processes_see_each_other_come_online(people, cluster):
    one, two = cluster.servers
    alice, bob, carol = people.browser("alice"), people.browser("bob"), people.browser("carol")

    alice_tab = people.tab(alice, one)
    bob_tab = people.tab(bob, two)
    bob_hello = bob_tab.wait_for("online", about(bob.username))
    assert alice.username in bob_hello["users"]
    notice = alice_tab.wait_for("online", about(bob.username))
    assert notice == {"user": bob.username, "at": notice["at"], "count": bob_hello["count"]}

    carol_tab = people.tab(carol, one)
    bob_tab.wait_for("online", about(carol.username))
    people.sync(carol_tab, alice_tab, bob_tab)
    assert len(alice_tab.events("online", about(bob.username))) == 1
    assert len(bob_tab.events("online", about(carol.username))) == 1
    assert bob_tab.events("online", about(alice.username)) == [], "alice was already online"
    assert alice_tab.events("offline", about(bob.username)) == []


def test_messages_cross_processes_once_and_only_to_whom_they_are_for(people, cluster):
    one, two = cluster.servers
    alice, bob, carol, dave = (people.browser(name) for name in ("alice", "bob", "carol", "dave"))
    alice_tab, alice_other_tab = people.tab(alice, one), people.tab(alice, two)
    bob_tab, carol_tab, dave_tab = people.tab(bob, two), people.tab(carol, two), people.tab(dave, one)
    everyone = (alice_tab, alice_other_tab, bob_tab, carol_tab, dave_tab)
    ours = said_by(alice, bob, carol, dave)

    public = alice_tab.send("all", "hello from process one")
    to_bob = alice_tab.send(bob.username, "for bob only")
    to_alice = bob_tab.send(alice.username, "for alice only")

    # Both processes at once: ids must still reach every tab in increasing order.
    burst_acks = []

    def burst(tab, label):
        for number in range(6):
            burst_acks.append(tab.send("all", f"{label} {number}")["id"])

    senders = [
        threading.Thread(target=burst, args=(tab, label)) for tab, label in ((alice_tab, "a"), (bob_tab, "b"))
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert len(set(burst_acks)) == 12
    people.sync(dave_tab, *everyone[:-1])
    people.sync(alice_tab, dave_tab)

    def ids(tab, message_id):
        return [m for m in tab.events("say", ours) if m["id"] == message_id]

    for tab in (alice_other_tab, bob_tab, carol_tab, dave_tab):
        [received] = ids(tab, public["id"])
        assert received["from"] == alice.username and received["msg"] == "hello from process one"
    for tab in (bob_tab, alice_other_tab):
        [received] = ids(tab, to_bob["id"])
        assert received["to"] == bob.username and received["msg"] == "for bob only"
    for tab in (alice_tab, alice_other_tab):
        [received] = ids(tab, to_alice["id"])
        assert received["to"] == alice.username and received["msg"] == "for alice only"
    assert ids(alice_tab, public["id"]) == ids(alice_tab, to_bob["id"]) == [], "echoed to the sending tab"
    assert ids(bob_tab, to_alice["id"]) == [], "echoed to the sending tab"
    for tab in (carol_tab, dave_tab):
        assert tab.events("say", lambda message: message["to"] != "all") == [], "a private message leaked"

    for tab in everyone:
        received = [m["id"] for m in tab.events("say", ours)]
        assert received == sorted(set(received)), "ids out of order, or a message twice"
    for tab in (carol_tab, dave_tab):
        bursts = [m["id"] for m in tab.events("say", ours) if m["id"] in burst_acks]
        assert sorted(bursts) == sorted(burst_acks)


def test_two_tabs_on_two_processes_are_one_user(people, cluster):
    one, two = cluster.servers
    bob, carol, alice = people.browser("bob"), people.browser("carol"), people.browser("alice")
    bob_tab, carol_tab = people.tab(bob, two), people.tab(carol, one)
    is_alice = about(alice.username)

    tab_on_one = people.tab(alice, one)
    tab_on_two = people.tab(alice, two)
    people.sync(carol_tab, bob_tab)
    assert len(bob_tab.events("online", is_alice)) == 1
    assert bob.username in tab_on_two.wait_for("online", is_alice)["users"]

    tab_on_one.close()
    people.sync(carol_tab, bob_tab)
    people.sync(tab_on_two, bob_tab, carol_tab)
    assert bob_tab.events("offline", is_alice) == []

    tab_on_two.close()
    for watcher in (bob_tab, carol_tab):
        watcher.wait_for("offline", is_alice)
    people.sync(carol_tab, bob_tab)
    for watcher in (bob_tab, carol_tab):
        assert len(watcher.events("offline", is_alice)) == 1
        assert len(watcher.events("online", is_alice)) == 1


def test_catching_up_on_another_process_gets_exactly_what_was_missed(people, cluster):
    one, two = cluster.servers
    alice, bob, carol = people.browser("alice"), people.browser("bob"), people.browser("carol")
    alice_tab, carol_tab = people.tab(alice, one), people.tab(carol, one)

    def sent(tab, sender, to, msg, queued=False):
        ack = tab.send(to, msg)
        message = {"id": ack["id"], "from": sender.username, "to": to, "msg": msg, "at": ack["at"]}
        return {**message, "queued": True} if queued else message

    seen = sent(alice_tab, alice, "all", "bob has seen this one")
    since = seen["id"]
    missed = [
        sent(alice_tab, alice, "all", "while bob was away"),
        sent(alice_tab, alice, bob.username, "bob, read this later", queued=True),
        sent(alice_tab, alice, carol.username, "between alice and carol"),
        sent(carol_tab, carol, alice.username, "still between alice and carol"),
        sent(carol_tab, carol, "all", "carol to everyone"),
        sent(carol_tab, carol, bob.username, "bob, from carol", queued=True),
    ]
    for_bob = [m for m in missed if m["to"] in ("all", bob.username)]

    bob_tab = people.tab(bob, two, since=since)
    assert bob_tab.history() == {"messages": for_bob, "more": False}

    live = sent(alice_tab, alice, bob.username, "now that you are here")
    assert bob_tab.wait_for("say", lambda message: message["id"] == live["id"]) == live
    again = people.tab(bob, two, since=for_bob[-1]["id"])
    assert again.history() == {"messages": [live], "more": False}
    people.sync(carol_tab, bob_tab)
    assert [m["id"] for m in bob_tab.events("say", said_by(alice))] == [live["id"]]


def test_a_killed_process_takes_its_users_offline_for_the_others(people, cluster):
    one, two = cluster.servers
    dave, erin, frank = people.browser("dave"), people.browser("erin"), people.browser("frank")
    erin_tab, frank_tab = people.tab(erin, two), people.tab(frank, two)
    dave_tab = people.tab(dave, one)
    erin_tab.wait_for("online", about(dave.username))

    one.kill()
    bound = 3 * PRESENCE_TTL + 2
    took = wait_until(lambda: erin_tab.events("offline", about(dave.username)), timeout=bound)
    assert took is not None, f"erin never heard that dave went offline within {bound} s"
    print(f"\noffline noticed {took:.2f} s after SIGKILL (TTL {PRESENCE_TTL} s)")
    assert dave_tab.closed.wait(WAIT), "dave's tab did not notice its server die"
    people.sync(frank_tab, erin_tab)
    assert len(erin_tab.events("offline", about(dave.username))) == 1

    # The restarted process rejoins: dave comes back through it.
    one.start()
    people.tab(dave, one)
    # wait_for would return the first notice, already there: wait for the second.
    wait_until(lambda: len(erin_tab.events("online", about(dave.username))) >= 2, timeout=5)
    assert len(erin_tab.events("online", about(dave.username))) == 2
