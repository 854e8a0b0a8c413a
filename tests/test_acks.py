"""Acks sent after the handler returned (app/chat/acks.py); over real sockets: tests/live/test_postgres.py."""

import threading

from app.chat.acks import LaterAck


def test_an_ack_resolved_after_the_dispatch_bound_it_is_sent_then():
    sent = []
    later = LaterAck()
    later.bind(sent.append)
    assert sent == []
    later.resolve({"ok": True, "id": 7})
    assert sent == [{"ok": True, "id": 7}]


def test_an_ack_resolved_before_the_dispatch_bound_it_is_sent_once_bound():
    """Under threads the batch can be done before the handler's return reaches the dispatch."""
    sent = []
    later = LaterAck()
    later.resolve({"ok": True, "id": 8})
    assert sent == []
    later.bind(sent.append)
    assert sent == [{"ok": True, "id": 8}]


def test_an_ack_resolved_and_bound_at_once_is_sent_exactly_once():
    for _ in range(200):
        sent = []
        later = LaterAck()
        start = threading.Barrier(2)

        def resolve(later=later, start=start):
            start.wait()
            later.resolve("ack")

        thread = threading.Thread(target=resolve)
        thread.start()
        start.wait()
        later.bind(sent.append)
        thread.join()
        assert sent == ["ack"]
