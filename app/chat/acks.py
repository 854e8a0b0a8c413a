"""Acknowledgements sent after a handler returns: a socket reads on while its message is stored.

python-socketio acknowledges an event with what its handler returns, when it
returns; there is no way to acknowledge later. With ``async_handlers=False``
(which keeps each socket's messages in order, see ``create_app``) the socket's
reader runs the handler, so a handler that waited for its message's batch to
be stored (``groupcommit``) stopped its socket: nothing more was read from it
until that batch was stored and delivered. A sender had one message in flight.
Where a batch waits for the database (PostgreSQL) that bounded what a few busy
senders could say. Room fan-out on PostgreSQL (5 senders), interleaved
ladders on 2026-12-07 (``python -m bench.run --servers
chatroom-eventlet-postgresql,chatroom-gevent-postgresql --scenarios
fanout``): at 320 messages a second, 63,700 deliveries offered, three
ladders received 37,890 to 48,160 a second, p99 1.3 to 2.7 s, the server's
core 94 to 96% busy; with acknowledgements sent later, four received 60,811
to 63,005, p99 169 to 313 ms, the core 98 to 99% busy.

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
