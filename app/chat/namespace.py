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

    def on_say(self, payload=None, *_ignored):
        """A user speaks: to everyone but this socket, or privately to both people's rooms. Acks.

        The ack comes once the message is stored and delivered; when it joins
        a batch in progress, that is after this handler returns (``acks``),
        and the socket's next event is read meanwhile.
        """
        chat = _chat()
        later = LaterAck()
        try:
            ack = chat.post(chat.speaker(request.sid), request.sid, payload, reply=later.resolve)
        except ChatError as error:
            return error.ack()
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
