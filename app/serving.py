"""How the app is served: the Socket.IO async mode, websocket tuning, the session per event, packets."""

import json
import logging
import os
import sys

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from socketio import packet
from wsproto.frame_protocol import XorMaskerSimple

# Flask-SocketIO keeps its copy of a socket's session in the socket's environ under
# this key, from the socket's first event on: HTTP requests never carry it.
SOCKET_SESSION = "saved_session"


def detect_async_mode(override=None):
    """Return the async mode for python-engineio.

    An explicit ``override`` (``CHAT_ASYNC_MODE``) wins. Otherwise the mode
    follows what has patched the standard library: gunicorn's eventlet and
    gevent workers patch it before loading the app, while ``flask run`` and
    ``gunicorn -k gthread`` leave it alone and need ``threading``. Letting
    python-engineio guess instead picks eventlet whenever it is installed,
    which breaks the websocket upgrade under ``flask run``.
    """
    if override:
        return override
    # Look only at modules already imported: importing eventlet just to ask
    # would itself emit its deprecation warning.
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("socket"):
        return "eventlet"
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("socket"):
        return "gevent"
    return "threading"


def green_psycopg():
    """Make psycopg wait for PostgreSQL through ``select()``, which eventlet makes cooperative.

    psycopg 3 waits for the server in C (``wait_c``), which eventlet cannot
    switch away from: every query stopped the whole worker, and all its
    sockets, until PostgreSQL answered. psycopg's own switch,
    ``PSYCOPG_WAIT_FUNC``, read when psycopg is first imported, picks its
    pure-Python ``wait_select`` instead (psycopg does this by itself under
    gevent, not under eventlet). A value already set is left alone.
    """
    if "psycopg.waiting" in sys.modules:
        waiting = sys.modules["psycopg.waiting"]
        if waiting.wait is getattr(waiting, "wait_c", None):
            logging.getLogger(__name__).warning(
                "psycopg was imported before the app: PostgreSQL queries will block the eventlet worker"
            )
        return
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")


def fast_eventlet_unmasking():
    """Make eventlet's websocket unmask incoming frames in C, not one byte at a time in Python.

    Every frame a browser sends is masked (RFC 6455), and eventlet 0.41
    unmasks it by building one ``bytes`` object per byte and joining them.
    That was the eventlet worker's largest single cost: 14.6 to 17.8% of
    its py-spy samples at 700 private messages a second (``bench.run
    --servers chatroom-eventlet --scenarios private --fixed 700 --profile``,
    2026-11-28). It also let one client stall every socket of the worker:
    a 64 KiB frame, the largest accepted, took 14.2 ms to unmask (timeit,
    the same day); with wsproto's masker (already here for simple-websocket)
    it takes 74 µs, and a 100-byte frame 2.3 µs instead of 19.2.

    Replaces ``RFC6455WebSocket._apply_mask`` with ``_apply_mask`` below,
    which returns the same bytes (``tests/test_app.py`` compares them).
    Called by ``create_app`` under eventlet only; ``bench/bare_app.py``
    calls it too, so the benchmark's floor is the same stack.
    """
    from eventlet.websocket import RFC6455WebSocket

    RFC6455WebSocket._apply_mask = staticmethod(_apply_mask)


def _apply_mask(data, mask, length=None, offset=0):
    """The first ``length`` bytes of ``data`` XOR the 4-byte ``mask``, starting at its byte ``offset``."""
    if length is None:
        length = len(data)
    turn = offset % 4
    key = bytes(mask[turn:]) + bytes(mask[:turn])
    return bytes(XorMaskerSimple(key).process(data[:length]))


class WebsocketTuning:
    """WSGI middleware in front of Socket.IO: compression off, shutdown noise out.

    - Browsers always offer permessage-deflate and the Python websocket stacks
      accept it, then compress every small frame for every recipient: a chat
      message is smaller than what compression saves, and fan-out multiplies
      the CPU spent. Unless ``compression`` is on, the offer is hidden from
      the server, which then answers without the extension.
    - Under gunicorn's eventlet worker, every websocket close logs
      "socket shutdown error: [Errno 9] Bad file descriptor" (eventlet shuts
      down a socket gunicorn already closed). That line is dropped; every
      other error line goes through.
    """

    NOISE = "socket shutdown error: [Errno 9]"

    def __init__(self, wsgi_app, compression=False):
        self.wsgi_app = wsgi_app
        self.compression = compression

    def __call__(self, environ, start_response):
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            if not self.compression:
                environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            if "wsgi.errors" in environ:
                environ["wsgi.errors"] = _FilteredErrors(environ["wsgi.errors"], self.NOISE)
        return self.wsgi_app(environ, start_response)


class _FilteredErrors:
    """A ``wsgi.errors`` stream that drops lines containing ``noise``."""

    def __init__(self, stream, noise):
        self._stream = stream
        self._noise = noise

    def write(self, text):
        if self._noise in text:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class ChatFlask(Flask):
    """Flask, without URL routing for Socket.IO events.

    Flask-SocketIO runs every event in a request context built from the
    socket's handshake environ, whose path (``/socket.io/``) no route
    matches: each event built a URL adapter, failed to match and kept the
    NotFound exception, whose traceback holds the request context in a
    reference cycle. Those cycles outlived the young generations while an
    event waited for its batch to be stored, and full collections then
    freed tens of thousands of objects at a time, pausing the server for up
    to 175 ms (bench/README.md). Events after a socket's first get no
    adapter; ``url_for`` is therefore not available in Socket.IO handlers.
    """

    def create_url_adapter(self, request):
        """No adapter for a Socket.IO event's request context; Flask's own otherwise."""
        if request is not None and SOCKET_SESSION in request.environ:
            return None
        return super().create_url_adapter(request)


class SocketEventSessions(SecureCookieSessionInterface):
    """The signed-cookie session, opened once per socket rather than once per event.

    Flask-SocketIO runs every event in a request context built from the
    socket's handshake environ, and pushing one opens the session: it parses
    and verifies the cookie again (about 6% of the server's CPU under load).
    Then it discards what was opened and uses its own copy, made at the first
    event and kept in the environ as ``saved_session``. When that copy exists
    this interface returns it directly: the same object Flask-SocketIO puts
    in place, without the cookie's work. HTTP requests never carry it.
    """

    def open_session(self, app, request):
        """The socket's saved session for a Socket.IO event; else the cookie's."""
        saved = request.environ.get(SOCKET_SESSION)
        if saved is not None:
            return saved
        return super().open_session(app, request)


_SCALARS = (str, int, float, bool, type(None))
# As ``json.dumps(data, separators=(",", ":"))`` with every other argument at its default.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class ChatPacket(packet.Packet):
    """python-socketio's ``Packet`` with the same wire format and less work for each one sent.

    Every message costs the server at least two packets (the delivery and the
    sender's ack), and python-socketio's ``Packet`` spends more on each than
    the JSON itself needs:

    - it looks for binary data (``data_is_binary``) through ``functools.reduce``
      over a list built at every level: 5.9 µs for a delivered message, 2.5
      for an ack (timeit, 2026-12-07, a host reporting an AMD EPYC);
    - it encodes with ``json.dumps(data, separators=(",", ":"))``, which builds
      a new ``JSONEncoder`` for every call because the separators are not
      the defaults: 6.9 µs for a delivered message, 2.9 with one encoder
      built once (the same output).

    Here: a loop that returns at the first ``bytes`` (0.63 µs for a delivered
    message), and one encoder for the module. Binary packets and decoding
    are python-socketio's own; ``tests/test_packets.py`` compares the
    output with python-socketio's, byte for byte. It is python-socketio's
    documented extension point (``serializer``: "a subclass of the Packet
    class with custom implementations of the encode() and decode()
    methods"), handed to Flask-SocketIO by ``create_app`` and by the
    benchmark's bare app alike. Written by hand because no library offers a
    cheaper packet for the default protocol.
    """

    @classmethod
    def data_is_binary(cls, data):
        """Whether ``data`` holds ``bytes`` or a ``bytearray`` anywhere in its lists and dicts."""
        if isinstance(data, (bytes, bytearray)):
            return True
        if isinstance(data, list):
            items = data
        elif isinstance(data, dict):
            items = data.values()
        else:
            return False
        for item in items:  # noqa: SIM110 (a loop: 0.63 µs for a delivered message, any() 0.99)
            if not isinstance(item, _SCALARS) and cls.data_is_binary(item):
                return True
        return False

    def encode(self):
        """The packet as python-socketio encodes it; binary ones are left to python-socketio."""
        if self.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK):
            return super().encode()
        encoded = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            encoded += self.namespace + ","
        if self.id is not None:
            encoded += str(self.id)
        if self.data is not None:
            encoded += _ENCODER.encode(self.data)
        return encoded
