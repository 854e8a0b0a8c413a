"""The /chat Socket.IO namespace: event handlers only; the rules live in ``Chat``."""

import contextlib

from flask import current_app, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room
from sqlalchemy.exc import SQLAlchemyError

from .acks import LaterAck
from .groupcommit import PENDING
from .presence import OnlineUser, PresenceUnavailable
from .protocol import ChatError, iso, read_since
from .service import EVERYONE_ROOM, personal_room


def _chat():
    return current_app.extensions["chat"]


class ChatNamespace(Namespace):
    """History, presence notices, public and private messages, typing notices."""

    def on_connect(self, auth=None):
        """A logged-in browser joins: its history first, then presence (others hear of a first socket)."""
        if not current_user.is_authenticated:
            raise ConnectionRefusedError("unauthorized")
        chat = _chat()
        user = OnlineUser(current_user.id, current_user.username)

        def admit(history):
            emit("history", history)
            join_room(personal_room(user.id))
            join_room(EVERYONE_ROOM)

        try:
            change = chat.arrive(user, request.sid)
        except PresenceUnavailable:
            # Redis is away: refuse now; the page retries (see chat.js).
            raise ConnectionRefusedError("unavailable") from None
        try:
            chat.join(user, read_since(auth), admit)
        except (ChatError, SQLAlchemyError):
            chat.leave(request.sid)  # undo the arrival; the database is away
            raise ConnectionRefusedError("unavailable") from None
        notice = {"user": user.name, "at": iso(), "count": change.count}
        if change.edge:
            emit("online", notice, broadcast=True, include_self=False)
        emit("online", {**notice, "users": chat.presence.names()})

    def on_disconnect(self, reason=None):
        """A socket closes: everyone hears ``offline`` when it was its user's last (after a grace period)."""
        # Without Redis the presence loop retries the removal and announces it later.
        with contextlib.suppress(PresenceUnavailable):
            _chat().leave(request.sid)

    def trigger_event(self, event, *args):
        """Dispatch an event: ``say`` in an application context only, every other as Flask-SocketIO does.

        Flask-SocketIO runs each event in a request context built from the
        socket's handshake environ: a ``Request`` object, the session put in
        place, ``request.sid`` and ``request.event`` set, then the teardowns.
        ``say``, the event every message costs, reads none of it: the
        speaker comes from the socket's id (``Chat.speaker``), and the
        database, which a few of its paths ask, needs only the application.
        Pushing and popping that request context cost 10 to 22 µs in
        Chatroom's app, an application context 4 to 5 (a loop of 50,000
        each, 2026-12-07, a slow host). In the server, at equal load, the
        worker spent 0.904 (0.889 to 0.917) of the CPU it had spent with the
        request context (``python -m bench.paired --a <the tree before>
        --b . --rate 800 --rounds 4``: eventlet, SQLite, 800 private messages
        a second, four rounds). Every other event keeps the request context,
        and with it ``current_user`` and Flask-SocketIO's ``emit``.
        """
        if event == "say":
            return self._say(*args)
        return super().trigger_event(event, *args)

    def _say(self, sid, payload=None, *_ignored):
        """A user speaks: to everyone but this socket, or privately to both people's rooms. Acks.

        The ack comes once the message is stored and delivered; when it joins
        a batch in progress, that is after this handler returns (``acks``),
        and the socket's next event is read meanwhile. A failure of the
        server's own is answered as in any other handler (``on_error``).
        """
        environ = self.socketio.server.get_environ(sid, namespace=self.namespace)
        if not environ:  # a socket this server no longer knows: as Flask-SocketIO, ignored
            return None
        app = environ["flask.app"]
        with app.app_context():
            chat = app.extensions["chat"]
            later = LaterAck()
            try:
                ack = chat.post(chat.speaker(sid), sid, payload, reply=later.resolve)
            except ChatError as error:
                return error.ack()
            except Exception as error:
                handler = self.socketio.exception_handlers.get(
                    self.namespace, self.socketio.default_exception_handler
                )
                if handler is None:
                    raise
                return handler(error)
            return later if ack is PENDING else ack

    def on_history(self, payload=None, *_ignored):
        """A client scrolls back: a page of the messages it may see, in the ack."""
        chat = _chat()
        try:
            return chat.history(chat.speaker(request.sid), payload)
        except ChatError as error:
            return error.ack()

    def on_typing(self, payload=None, *_ignored):
        """Someone is typing: relayed to whom a ``say`` would reach, never to the typist's tabs."""
        chat = _chat()
        sender = chat.presence.user_of(request.sid)
        relay = chat.typing(sender, payload) if sender else None
        if relay is None:
            return
        notice, recipient = relay
        try:
            own_tabs = chat.presence.sids_of(sender.id)
        except PresenceUnavailable:
            return
        room = EVERYONE_ROOM if recipient is None else personal_room(recipient.id)
        emit("typing", notice, to=room, skip_sid=own_tabs)
