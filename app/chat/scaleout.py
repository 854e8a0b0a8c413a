"""What several server processes share through Redis, apart from presence itself.

With ``REDIS_URL`` unset none of this runs: one process keeps everything in memory.
"""

import threading

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .outage import OutageLog
from .presence import PresenceUnavailable
from .protocol import iso

# Fail fast while Redis is away: a handler must never wait seconds on it.
REDIS_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 3, "retry": Retry(NoBackoff(), 1)}


def channel_for(url):
    """The pub/sub channel for a Redis URL: one per database number.

    Redis pub/sub ignores database numbers, so two deployments sharing one
    Redis on /1 and /2 would otherwise hear each other's messages.
    """
    database = redis.connection.parse_url(url).get("db", 0)
    return f"chatroom-db{database}"


def make_redis(url):
    """A Redis client that gives up quickly instead of retrying for seconds."""
    return redis.Redis.from_url(url, **REDIS_OPTIONS)


class SharedLock:
    """A lock held across all processes (Redis), inside this process's own lock.

    Used to keep message ids in delivery order across processes: a message is
    stored, committed and published under it. While Redis is away, only the
    process lock is held (ordering across processes is then not guaranteed,
    and fan-out is paused anyway).
    """

    def __init__(self, client, name, timeout=10, wait=5):
        self._local = threading.Lock()
        self._redis_lock = client.lock(name, timeout=timeout, blocking_timeout=wait)
        self._outage = OutageLog("Redis (delivery lock)")

    def __enter__(self):
        self._local.acquire()
        # Only the holder of the process lock reads or writes ``_acquired``.
        try:
            self._acquired = self._redis_lock.acquire()
        except RedisError as error:
            self._outage.failed(error)
            self._acquired = False
        else:
            self._outage.ok()
        return self

    def __exit__(self, *exc_info):
        try:
            if self._acquired:
                self._redis_lock.release()
        except RedisError as error:
            # The Redis lock expires by itself after ``timeout``.
            self._outage.failed(error)
        finally:
            self._local.release()


def keep_presence(socketio, presence, namespace, interval):
    """Background loop: heartbeat this process, reap dead ones, announce who went offline."""
    outage = OutageLog("Redis (presence)")
    while True:
        try:
            gone, count = presence.heartbeat()
            reaped, reaped_count = presence.reap()
        except PresenceUnavailable as error:
            outage.failed(error)
        else:
            outage.ok()
            for users, online in ((gone, count), (reaped, reaped_count)):
                for user in users:
                    notice = {"user": user.name, "at": iso(), "count": online}
                    socketio.emit("offline", notice, namespace=namespace)
        socketio.sleep(interval)
