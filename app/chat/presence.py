"""Who is online: presence counts connections, not users.

A user is online while at least one of their sockets is connected, so two
tabs, or a refreshed page whose new socket arrives before the old one leaves,
keep them online. ``connect`` and ``disconnect`` are exact mirrors: whatever
one adds, the other removes.
"""

import threading
from dataclasses import dataclass

from redis.exceptions import RedisError

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

    def count(self):
        """How many users are online."""
        with self._lock:
            return len(self._users)


class PresenceUnavailable(Exception):
    """The shared presence store (Redis) did not answer."""


# Presence in Redis, under one prefix:
#   sockets:<user id>   SET of "<process>|<sid>": every socket of the user, on any process
#   names               HASH user id -> username: the online users (HLEN is the count)
#   keys                HASH name key -> user id; keyof HASH user id -> name key
#   proc:<process>      SET of "<user id>|<sid>": the sockets one process holds
#   alive:<process>     STRING with a TTL, refreshed by the process's heartbeat
#   procs               SET of process ids that may hold sockets
# Each change is one Lua script, so every process sees it whole.
_CONNECT = """
local p, uid, name, key, proc, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call("SADD", p .. "sockets:" .. uid, proc .. "|" .. sid)
redis.call("SADD", p .. "proc:" .. proc, uid .. "|" .. sid)
redis.call("SADD", p .. "procs", proc)
redis.call("HSET", p .. "names", uid, name)
redis.call("HSET", p .. "keys", key, uid)
redis.call("HSET", p .. "keyof", uid, key)
local first = redis.call("SCARD", p .. "sockets:" .. uid) == 1 and 1 or 0
return {first, redis.call("HLEN", p .. "names")}
"""

# Removes sockets ("<user id>|<sid>" pairs of one process); returns the users left
# with none, as user id, name, user id, name, ... followed by the online count.
_REMOVE_FUNCTION = """
local function remove(p, proc, members)
  local gone = {}
  for _, member in ipairs(members) do
    local uid, sid = string.match(member, "^(%d+)|(.+)$")
    redis.call("SREM", p .. "proc:" .. proc, member)
    local removed = redis.call("SREM", p .. "sockets:" .. uid, proc .. "|" .. sid)
    if removed == 1 and redis.call("SCARD", p .. "sockets:" .. uid) == 0 then
      local name = redis.call("HGET", p .. "names", uid)
      local key = redis.call("HGET", p .. "keyof", uid)
      redis.call("HDEL", p .. "names", uid)
      redis.call("HDEL", p .. "keyof", uid)
      if key and redis.call("HGET", p .. "keys", key) == uid then redis.call("HDEL", p .. "keys", key) end
      table.insert(gone, uid)
      table.insert(gone, name or "")
    end
  end
  table.insert(gone, redis.call("HLEN", p .. "names"))
  return gone
end
"""

_REMOVE = (
    _REMOVE_FUNCTION
    + """
local members = {}
for i = 3, #ARGV do table.insert(members, ARGV[i]) end
return remove(ARGV[1], ARGV[2], members)
"""
)

# Takes over a dead process (its alive key expired) and removes its sockets, in
# one step, so exactly one live process announces each user who went offline.
_REAP = (
    _REMOVE_FUNCTION
    + """
local p, proc = ARGV[1], ARGV[2]
if redis.call("EXISTS", p .. "alive:" .. proc) == 1 then return {-1} end
if redis.call("SREM", p .. "procs", proc) == 0 then return {-1} end
local gone = remove(p, proc, redis.call("SMEMBERS", p .. "proc:" .. proc))
redis.call("DEL", p .. "proc:" .. proc)
return gone
"""
)


class RedisPresence:
    """Presence shared by every server process through Redis.

    A user is online while any of their sockets on any process is connected.
    Each process refreshes a heartbeat key with a TTL; when a process dies
    without cleaning up (SIGKILL), its key expires and the next ``reap`` by a
    live process removes its sockets, returning the users who thereby went
    offline so the caller can announce it once.

    The socket-to-user map of this process's own sockets stays in memory as
    well: sticky sessions keep every request of a socket on its process.
    """

    def __init__(self, client, process_id, ttl=30, prefix="chat:presence:"):
        self._redis = client
        self.process_id = process_id
        self.ttl = ttl
        self._prefix = prefix
        self._lock = threading.Lock()
        self._owner = {}  # sid -> OnlineUser, for this process's sockets
        self._unremoved = []  # "<user id>|<sid>" whose removal failed while Redis was away
        self._connect = client.register_script(_CONNECT)
        self._remove = client.register_script(_REMOVE)
        self._reap = client.register_script(_REAP)

    def _call(self, script, *args):
        try:
            return script(args=[self._prefix, *args])
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error

    def connect(self, user, sid):
        """Record ``sid`` as a socket of ``user``; ``edge`` says it is their first anywhere."""
        first, count = self._call(
            self._connect, user.id, user.name, name_key(user.name), self.process_id, sid
        )
        with self._lock:
            self._owner[sid] = user
        return Change(user, bool(first), int(count))

    def disconnect(self, sid):
        """Forget ``sid``; ``edge`` says it was its user's last anywhere. None for an unknown sid."""
        with self._lock:
            user = self._owner.pop(sid, None)
        if user is None:
            return None
        member = f"{user.id}|{sid}"
        try:
            gone, count = self._remove_sockets(self.process_id, [member])
        except PresenceUnavailable:
            # Retried by the next heartbeat, which reports the users who went offline.
            with self._lock:
                self._unremoved.append(member)
            raise
        return Change(user, bool(gone), count)

    def _remove_sockets(self, process_id, members):
        return _gone(self._call(self._remove, process_id, *members))

    def user_of(self, sid):
        """The user connected on ``sid`` (a socket of this process), or None."""
        return self._owner.get(sid)

    def find(self, name):
        """The online user called ``name`` ignoring case, on any process, or None."""
        try:
            user_id = self._redis.hget(self._prefix + "keys", name_key(name))
            if user_id is None:
                return None
            username = self._redis.hget(self._prefix + "names", user_id)
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error
        return None if username is None else OnlineUser(int(user_id), _text(username))

    def sids_of(self, user_id):
        """The sockets ``user_id`` has open, on every process."""
        try:
            members = self._redis.smembers(f"{self._prefix}sockets:{user_id}")
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error
        return sorted(_text(member).split("|", 1)[1] for member in members)

    def names(self):
        """Online usernames sorted by casefold."""
        try:
            names = self._redis.hvals(self._prefix + "names")
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error
        return sorted((_text(name) for name in names), key=str.casefold)

    def count(self):
        """How many users are online, on every process."""
        try:
            return int(self._redis.hlen(self._prefix + "names"))
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error

    def heartbeat(self):
        """Refresh this process's liveness; return ``(gone users, count)`` like ``reap``.

        Catches up on what failed while Redis was away: removals that could
        not be made (their users may have gone offline meanwhile) and, when
        Redis restarted empty (it keeps nothing on disk here), this process's
        sockets, written back silently since their users never left.
        """
        alive = f"{self._prefix}alive:{self.process_id}"
        try:
            existed = self._redis.set(alive, "1", ex=self.ttl, get=True) is not None
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error
        if not existed:
            with self._lock:
                sockets = list(self._owner.items())
            for sid, user in sockets:
                self._call(self._connect, user.id, user.name, name_key(user.name), self.process_id, sid)
        with self._lock:
            unremoved, self._unremoved = self._unremoved, []
        if not unremoved:
            return [], None
        try:
            return self._remove_sockets(self.process_id, unremoved)
        except PresenceUnavailable:
            with self._lock:
                self._unremoved.extend(unremoved)
            raise

    def reap(self):
        """Remove the sockets of processes whose heartbeat expired; return ``(gone users, count)``."""
        try:
            processes = [_text(p) for p in self._redis.smembers(self._prefix + "procs")]
        except RedisError as error:
            raise PresenceUnavailable(str(error)) from error
        gone, count = [], None
        for process_id in processes:
            if process_id != self.process_id:
                result = self._call(self._reap, process_id)
                if result != [-1]:
                    users, count = _gone(result)
                    gone.extend(users)
        return gone, count


def _gone(result):
    """Decode the removal scripts' answer: ``([OnlineUser, ...], count)``."""
    *flat, count = result
    users = [OnlineUser(int(flat[i]), _text(flat[i + 1])) for i in range(0, len(flat), 2)]
    return users, int(count)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value
