"""Who is online: presence counts connections, not users.

A user is online while at least one of their sockets is connected, so two
tabs, or a refreshed page whose new socket arrives before the old one leaves,
keep them online. ``connect`` and ``disconnect`` are exact mirrors: whatever
one adds, the other removes.
"""

import threading
from dataclasses import dataclass

from ..auth.usernames import name_key


@dataclass(frozen=True)
class OnlineUser:
    """The identity a socket speaks for, fixed by the server at connect time."""

    id: int
    name: str


@dataclass(frozen=True)
class Change:
    """What a connect or disconnect did: ``edge`` is True on the first or last socket."""

    user: OnlineUser
    edge: bool
    count: int


class LocalPresence:
    """Presence for one server process, kept in memory."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sids = {}  # user id -> set of sids
        self._users = {}  # user id -> OnlineUser
        self._by_key = {}  # name key -> user id
        self._owner = {}  # sid -> OnlineUser

    def connect(self, user, sid):
        """Record ``sid`` as a socket of ``user``; ``edge`` says it is their first."""
        with self._lock:
            sids = self._sids.setdefault(user.id, set())
            first = not sids
            sids.add(sid)
            self._users[user.id] = user
            self._by_key[name_key(user.name)] = user.id
            self._owner[sid] = user
            return Change(user, first, len(self._sids))

    def disconnect(self, sid):
        """Forget ``sid``; ``edge`` says it was its user's last. None for an unknown sid."""
        with self._lock:
            user = self._owner.pop(sid, None)
            if user is None:
                return None
            sids = self._sids[user.id]
            sids.discard(sid)
            last = not sids
            if last:
                del self._sids[user.id]
                del self._users[user.id]
                del self._by_key[name_key(user.name)]
            return Change(user, last, len(self._sids))

    def user_of(self, sid):
        """The user connected on ``sid``, or None."""
        return self._owner.get(sid)

    def find(self, name):
        """The online user called ``name`` ignoring case, or None."""
        with self._lock:
            user_id = self._by_key.get(name_key(name))
            return self._users.get(user_id)

    def sids_of(self, user_id):
        """The sockets ``user_id`` has open."""
        with self._lock:
            return sorted(self._sids.get(user_id, ()))

    def names(self):
        """Online usernames sorted by casefold."""
        with self._lock:
            return sorted((user.name for user in self._users.values()), key=str.casefold)
