"""RedisPresence against a real Redis: several processes, one view of who is online."""

import time

import pytest

from app.chat.presence import OnlineUser, PresenceUnavailable, RedisPresence

ALICE = OnlineUser(1, "Alice")
BOB = OnlineUser(2, "bob")


@pytest.fixture
def processes(redis_client, redis_prefix):
    """Two server processes' presence objects sharing one Redis."""
    return (
        RedisPresence(redis_client, "p1", ttl=1, prefix=redis_prefix),
        RedisPresence(redis_client, "p2", ttl=1, prefix=redis_prefix),
    )


def test_first_and_last_socket_across_processes(processes):
    p1, p2 = processes
    assert p1.connect(ALICE, "a1").edge is True
    assert p2.connect(ALICE, "a2").edge is False  # a tab on the other process
    assert p1.disconnect("a1").edge is False
    change = p2.disconnect("a2")
    assert change.edge is True and change.count == 0


def test_every_process_sees_the_same_users(processes):
    p1, p2 = processes
    p1.connect(ALICE, "a1")
    p2.connect(BOB, "b1")
    assert p1.names() == p2.names() == ["Alice", "bob"]
    assert p2.find("ALICE") == ALICE
    assert p1.sids_of(ALICE.id) == ["a1"]
    assert p2.user_of("a1") is None  # the socket map is per process
    assert p1.user_of("a1") == ALICE


def test_disconnect_undoes_connect_completely(processes, redis_client, redis_prefix):
    p1, _ = processes
    p1.connect(ALICE, "a1")
    p1.disconnect("a1")
    assert p1.names() == []
    assert p1.find("alice") is None
    leftovers = [k.decode() for k in redis_client.scan_iter(match=redis_prefix + "*")]
    assert all(k.endswith(("procs", "alive:p1")) for k in leftovers), leftovers


def test_dead_process_is_reaped_once_after_its_ttl(processes):
    p1, p2 = processes
    p1.heartbeat()
    p2.heartbeat()
    p1.connect(ALICE, "a1")
    p1.connect(BOB, "b1")
    p2.connect(BOB, "b2")
    assert p2.reap() == ([], None)  # p1 is alive
    time.sleep(1.2)  # p1 "died": no more heartbeats, its key expires
    p2.heartbeat()
    gone, count = p2.reap()
    assert gone == [ALICE]  # bob still has a socket on p2
    assert count == 1
    assert p2.names() == ["bob"]
    assert p2.reap() == ([], None)  # announced exactly once


def test_heartbeat_restores_sockets_when_redis_lost_them(processes, redis_client, redis_prefix):
    p1, p2 = processes
    p1.heartbeat()
    p1.connect(ALICE, "a1")
    for key in redis_client.scan_iter(match=redis_prefix + "*"):
        redis_client.delete(key)  # as after a Redis restart with nothing on disk
    assert p2.names() == []
    p1.heartbeat()
    assert p2.names() == ["Alice"]
    assert p1.disconnect("a1").edge is True


def test_unreachable_redis_raises_presence_unavailable():
    import redis

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    presence = RedisPresence(dead, "p1")
    with pytest.raises(PresenceUnavailable):
        presence.connect(ALICE, "a1")
    with pytest.raises(PresenceUnavailable):
        presence.find("alice")
