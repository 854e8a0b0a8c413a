"""Fixtures: two gunicorn processes on one Redis and one PostgreSQL database.

The first process runs the eventlet worker, the second the gevent worker: both
greenlet workers scale out the same way, and one cluster tests both (as well as a
site moving from one to the other a process at a time).

A user may be on either process; what they notice must not depend on which.
Every user has a fresh name, so tests can share a pair of servers; and since
Redis pub/sub channels ignore the database number, whatever a test inspects
is filtered to its own users.
"""

import contextlib
import os
import secrets

import pytest
import redis

from tests.conftest import need_service
from tests.live.conftest import Browser, Live, Tab, unexplained_tracebacks, unique_name
from tests.support import LiveServer

# The machine's Redis, on a database number of these tests' own (flushed before each pair starts).
SCALEOUT_REDIS_URL = os.environ.get("CHAT_TEST_SCALEOUT_REDIS_URL", "redis://127.0.0.1:6379/12")
# Seconds before a killed process's users are dropped; each process heartbeats every TTL/3 s.
PRESENCE_TTL = 3


def flushed_redis(url):
    """Empty the Redis database at ``url`` and return the URL; skip or fail when Redis is away."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError:
        need_service(f"Redis at {url}", "start redis-server, or set CHAT_TEST_SCALEOUT_REDIS_URL")
    finally:
        client.close()
    return url


# The worker of each process in turn.
CLUSTER_WORKERS = ("eventlet", "gevent")


class Cluster:
    """Server processes sharing one Redis, one database and one secret key (a cookie works on any)."""

    def __init__(self, workdir, redis_url, database_url, count=2, **env):
        shared = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_hex(32),
            "CHAT_PRESENCE_TTL": str(PRESENCE_TTL),
            **env,
        }
        self.servers = [
            LiveServer(CLUSTER_WORKERS[index % len(CLUSTER_WORKERS)], workdir, **shared)
            for index in range(count)
        ]

    def start(self):
        """Start the processes one after the other: each applies the migrations at start-up."""
        for server in self.servers:
            server.start()
        return self

    def stop(self):
        """Stop every process, then fail on any traceback in their logs: each one is a bug."""
        for server in self.servers:
            server.stop()
        for server in self.servers:
            log = server.log()
            assert unexplained_tracebacks(log) == [], f"{server.base_url} logged a traceback:\n{log}"


@contextlib.contextmanager
def running_cluster(tmp_path_factory, redis_url, database_url, **env):
    """A started Cluster, stopped (and its logs checked) on the way out."""
    cluster = Cluster(tmp_path_factory.mktemp("scaleout"), redis_url, database_url, **env)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_url):
    """Two processes on the machine's Redis and PostgreSQL, shared by the tests of a module."""
    redis_url = flushed_redis(SCALEOUT_REDIS_URL)
    with running_cluster(tmp_path_factory, redis_url, postgres_url) as running:
        yield running


class People(Live):
    """What one test opens on a cluster: users (browsers) and their tabs on either process.

    ``sync`` (from Live) works across processes too: Redis delivers what was
    published in the order it was published.
    """

    def __init__(self, cluster):
        super().__init__(cluster.servers[0])
        self.cluster = cluster

    def browser(self, prefix, server=None):
        """A new user, registered (and so logged in) through a process's form (the first by default)."""
        browser = Browser(server or self.cluster.servers[0], unique_name(prefix))
        self.browsers.append(browser)
        browser.register()
        return browser

    def tab(self, browser, server, since=None):
        """A connected tab of ``browser`` on ``server``, with ``since`` when given."""
        tab = Tab(server, browser.cookie, since=since)
        self.tabs.append(tab)
        return tab.connect()


@pytest.fixture
def people(cluster):
    """Users and tabs on the module's cluster, closed when the test ends."""
    opened = People(cluster)
    yield opened
    opened.close()


def about(name):
    """Predicate: a presence notice about ``name``."""
    return lambda notice: notice["user"] == name


def said_by(*browsers):
    """Predicate: a message sent by one of ``browsers`` (messages of other runs are ignored)."""
    names = {browser.username for browser in browsers}
    return lambda message: message["from"] in names
