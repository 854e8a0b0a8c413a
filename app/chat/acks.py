"""Acknowledgements sent after a handler returns: a socket reads on while its message is stored.

python-socketio acknowledges an event with what its handler returns, when it
returns; there is no way to acknowledge later. With ``async_handlers=False``
(which keeps each socket's messages in order, see ``create_app``) the socket's
reader runs the handler, so a handler that waited for its message's batch to
be stored (``groupcommit``) stopped its socket: nothing more was read from it
until that batch was stored and delivered. A sender had one message in flight.
Where a batch waits for the database (PostgreSQL) that bounded what a few busy
senders could say: room fan-out, 5 senders, reached 174 to 207 messages a
second with the server's core only 84 to 94% busy, and at 226 a second
latency grew without bound (``python -m bench.run --servers
chatroom-gevent-postgresql --scenarios fanout``, 2026-12-07).

So a handler may return a ``LaterAck``; ``install`` wraps the server's event
dispatch so that the acknowledgement goes out once the ``LaterAck`` is
resolved, in whichever task resolves it. Written by hand because python-socketio
offers no deferred acknowledgement; it wraps ``Server._handle_event_internal``,
whose body it repeats for every other return value (python-socketio 5.18,
pinned in requirements.txt; ``tests/live/test_postgres.py`` checks it over real sockets).
"""

import threading

from socketio import packet


class LaterAck:
    """An acknowledgement that is not known yet: ``resolve`` it, from any thread or greenlet, once."""

    __slots__ = ("_lock", "_send", "_value")

    _UNSET = object()

    def __init__(self):
        self._lock = threading.Lock()
        self._value = self._UNSET
        self._send = None

    def resolve(self, value):
        """Send ``value`` as the acknowledgement (now, or once the event's dispatch has bound it)."""
        with self._lock:
            self._value = value
            send = self._send
        if send is not None:
            send(value)

    def bind(self, send):
        """Called by the dispatch once the handler has returned: ``send(value)`` acknowledges."""
        with self._lock:
            self._send = send
            value = self._value
        if value is not self._UNSET:
            send(value)


def install(server):
    """Make ``server`` (a python-socketio Server) acknowledge a returned ``LaterAck`` when it resolves."""

    def handle_event_internal(_server, sid, eio_sid, data, namespace, id):
        result = server._trigger_event(data[0], namespace, sid, *data[1:])
        if id is None or result == server.not_handled:
            return
        if isinstance(result, LaterAck):
            result.bind(lambda value: _send_ack(server, eio_sid, namespace, id, [value]))
            return
        # As python-socketio does: None is no argument, a tuple several.
        if result is None:
            arguments = []
        elif isinstance(result, tuple):
            arguments = list(result)
        else:
            arguments = [result]
        _send_ack(server, eio_sid, namespace, id, arguments)

    server._handle_event_internal = handle_event_internal


def _send_ack(server, eio_sid, namespace, id, arguments):
    server._send_packet(eio_sid, server.packet_class(packet.ACK, namespace=namespace, id=id, data=arguments))
