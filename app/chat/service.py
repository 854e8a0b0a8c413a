"""The chat's rules, apart from the socket layer: who may say what to whom."""

from ..auth.models import User
from .protocol import EVERYONE, ChatError, iso, read_say, read_target

NAMESPACE = "/chat"


def personal_room(user_id):
    """The room holding every socket of one user: private messages go there."""
    return f"user:{user_id}"


class Chat:
    """Presence, limits and the store behind the /chat namespace.

    One instance lives in ``app.extensions["chat"]``; the namespace's handlers
    validate through it and then emit what it returns.
    """

    def __init__(self, socketio, presence, limits, store, max_length):
        self.socketio = socketio
        self.presence = presence
        self.limits = limits
        self.store = store
        self.max_length = max_length

    def speaker(self, sid):
        """The user behind ``sid``, as recorded at connect; never what the client claims."""
        user = self.presence.user_of(sid)
        if user is None:
            raise ChatError("bad_request", "This socket is not connected to the chat.")
        return user

    def resolve(self, target):
        """Return None for everyone, or the online user ``target`` names (any case)."""
        if target.casefold() == EVERYONE:
            return None
        user = self.presence.find(target)
        if user is not None:
            return user
        if User.find(target) is None:
            raise ChatError("no_such_user", f"There is no user called {target!r}.")
        raise ChatError("not_online", f"{target} is not online.")

    def accept(self, sender, payload):
        """Validate, rate-limit and store a ``say``; return the message as sent on the wire.

        Returns ``(message, recipient)``, recipient None for everyone.
        """
        target, text = read_say(payload, self.max_length)
        recipient = self.resolve(target)
        if not self.limits.allow_message(sender.id):
            raise ChatError("rate_limited", "You are sending messages too fast; wait a moment.")
        stored = self.store.add(sender.id, recipient.id if recipient else None, text)
        message = {
            "id": stored.id,
            "from": sender.name,
            "to": recipient.name if recipient else EVERYONE,
            "msg": text,
            "at": iso(stored.created_at),
        }
        return message, recipient

    def typing(self, sender, payload):
        """Return ``(notice, recipient)`` for a typing relay, or None to drop it quietly.

        Unknown or offline targets, bad payloads and a second notice within a
        second are all dropped: typing notices carry no acknowledgement.
        """
        try:
            recipient = self.resolve(read_target(payload))
        except ChatError:
            return None
        if not self.limits.allow_typing(sender.id):
            return None
        notice = {"from": sender.name, "to": recipient.name if recipient else EVERYONE}
        return notice, recipient

    def disconnect_user(self, user_id):
        """Close every socket of ``user_id`` (on logout)."""
        for sid in self.presence.sids_of(user_id):
            self.socketio.server.disconnect(sid, namespace=NAMESPACE)
