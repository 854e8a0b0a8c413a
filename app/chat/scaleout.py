"""What several server processes share through Redis, apart from presence itself.

With ``REDIS_URL`` unset none of this runs: one process keeps everything in memory.
"""

import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .presence import PresenceUnavailable
from .service import EVERYONE_ROOM, NAMESPACE

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

    def __init__(self, client, name, health, timeout=10, wait=5):
        self._local = threading.Lock()
        self._redis_lock = client.lock(name, timeout=timeout, blocking_timeout=wait)
        self._outage = health

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


# After a Redis outage, for this long, sockets are asked to catch up (``resync``):
# python-socketio's listener resubscribes with a backoff of up to a minute, and
# what was published before it did never reached this process's sockets.
RESYNC_WINDOW = 70


def keep_presence(chat, health, interval):
    """Background loop: heartbeat, reap dead processes, announce who went offline.

    After any Redis outage (``health`` counts them, whoever saw it) the
    sockets of this process are sent ``resync`` every ``interval`` for
    RESYNC_WINDOW seconds: messages stored meanwhile were never delivered,
    and the page answers with ``history {after}``.
    """
    seen_outages = health.outages
    resync_until = 0.0
    while True:
        try:
            gone, count = chat.presence.heartbeat()
            reaped, reaped_count = chat.presence.reap()
        except PresenceUnavailable as error:
            health.failed(error)
        else:
            health.ok()
            for user in gone:
                chat.announce_offline(user, count)
            for user in reaped:
                chat.announce_offline(user, reaped_count)
            if health.outages != seen_outages:
                seen_outages = health.outages
                resync_until = time.monotonic() + RESYNC_WINDOW
            if time.monotonic() < resync_until:
                chat.server.emit("resync", {}, namespace=NAMESPACE, to=EVERYONE_ROOM, ignore_queue=True)
        chat.server.sleep(interval)
