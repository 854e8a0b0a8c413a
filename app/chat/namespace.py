"""The /chat Socket.IO namespace: event handlers only; the rules live in ``Chat``."""

from flask import current_app, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room

from .presence import OnlineUser
from .protocol import ChatError, iso
from .service import personal_room


def _chat():
    return current_app.extensions["chat"]


class ChatNamespace(Namespace):
    """Presence notices, public and private messages, typing notices."""

    def on_connect(self, auth=None):
        """A logged-in browser joins: others hear of a first socket; this socket gets the full list."""
        if not current_user.is_authenticated:
            raise ConnectionRefusedError("unauthorized")
        chat = _chat()
        user = OnlineUser(current_user.id, current_user.username)
        join_room(personal_room(user.id))
        change = chat.presence.connect(user, request.sid)
        notice = {"user": user.name, "at": iso(), "count": change.count}
        if change.edge:
            emit("online", notice, broadcast=True, include_self=False)
        emit("online", {**notice, "users": chat.presence.names()})

    def on_disconnect(self, reason=None):
        """A socket closes: everyone hears ``offline`` when it was its user's last."""
        change = _chat().presence.disconnect(request.sid)
        if change is not None and change.edge:
            notice = {"user": change.user.name, "at": iso(), "count": change.count}
            emit("offline", notice, broadcast=True)

    def on_say(self, payload=None, *_ignored):
        """A user speaks: to everyone but this socket, or privately to both people's rooms. Acks."""
        chat = _chat()
        try:
            sender = chat.speaker(request.sid)
            message, recipient = chat.accept(sender, payload)
        except ChatError as error:
            return error.ack()
        if recipient is None:
            emit("say", message, broadcast=True, include_self=False)
        else:
            rooms = [personal_room(recipient.id), personal_room(sender.id)]
            emit("say", message, to=rooms, include_self=False)
        return {"ok": True, "id": message["id"], "at": message["at"]}

    def on_typing(self, payload=None, *_ignored):
        """Someone is typing: relayed to whom a ``say`` would reach, never to the typist's tabs."""
        chat = _chat()
        sender = chat.presence.user_of(request.sid)
        relay = chat.typing(sender, payload) if sender else None
        if relay is None:
            return
        notice, recipient = relay
        own_tabs = chat.presence.sids_of(sender.id)
        if recipient is None:
            emit("typing", notice, broadcast=True, skip_sid=own_tabs)
        else:
            emit("typing", notice, to=personal_room(recipient.id), skip_sid=own_tabs)
