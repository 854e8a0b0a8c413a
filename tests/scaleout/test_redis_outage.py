"""Redis goes away and comes back: the chat keeps every message and recovers by itself."""

import re
import time
from collections import Counter

import pytest
import requests

from tests.conftest import need_service
from tests.live.conftest import WAIT
from tests.support import RedisServer, wait_until

from .conftest import about, running_cluster, said_by

pytestmark = pytest.mark.live

OUTAGE_MESSAGES = 10
OUTAGE_SECONDS = 4
RECOVERY_TIMEOUT = 20


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A redis-server of this module's own, which a test may stop and start again."""
    if not RedisServer.available():
        need_service("redis-server", "install Redis (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_url, redis_server):
    """Two processes on the module's own Redis; a rate limit that the probes below stay under."""
    with running_cluster(
        tmp_path_factory, redis_server.url, postgres_url, CHAT_RATE_LIMIT="100/10"
    ) as running:
        yield running


def repeated_lines(log):
    """How often each line of a log appears, numbers ignored ("retrying in 2 secs" = "in 4 secs")."""
    return Counter(re.sub(r"\d+", "#", line) for line in log.splitlines() if line.strip())


def test_messages_survive_a_redis_outage_and_fan_out_resumes(people, cluster, redis_server):
    one, two = cluster.servers
    alice, bob = people.browser("alice"), people.browser("bob")
    alice_tab, bob_tab = people.tab(alice, one), people.tab(bob, two)
    before = alice_tab.send("all", "before the outage")
    bob_tab.wait_for("say", lambda message: message["id"] == before["id"])
    logs_before = [server.log() for server in cluster.servers]

    redis_server.stop()
    during = []
    for n in range(OUTAGE_MESSAGES):
        during.append(alice_tab.send("all", f"during the outage {n}"))
        # Spread over seconds: several heartbeats and listener retries fail meanwhile.
        time.sleep(OUTAGE_SECONDS / OUTAGE_MESSAGES)
    assert [ack["id"] for ack in during] == sorted({ack["id"] for ack in during})
    for server in cluster.servers:
        assert requests.get(server.url("/healthz"), timeout=WAIT).status_code == 200
    assert alice_tab.connected and bob_tab.connected

    redis_server.start()
    probes = []

    def fan_out_resumed():
        probes.append(alice_tab.send("all", f"probe {len(probes)}")["id"])
        return wait_until(lambda: bob_tab.events("say", lambda m: m["id"] in probes), timeout=1) is not None

    took = wait_until(fan_out_resumed, timeout=RECOVERY_TIMEOUT, step=0)
    assert took is not None, f"fan-out did not resume within {RECOVERY_TIMEOUT} s of Redis restarting"
    print(f"\nfan-out resumed {took:.2f} s after Redis restarted ({len(probes)} probes)")

    # Connected tabs missed what was stored during the outage: the server asks them to catch up.
    bob_tab.wait_for("resync", timeout=RECOVERY_TIMEOUT)
    alice_tab.wait_for("resync", timeout=RECOVERY_TIMEOUT)

    catch_up = people.tab(bob, two, since=before["id"])
    acked = [ack["id"] for ack in during] + probes
    assert [m["id"] for m in catch_up.history()["messages"] if said_by(alice)(m)] == acked
    # Redis restarted empty; the processes wrote their sockets back, so the online list is right.
    assert alice.username in catch_up.wait_for("online", about(bob.username))["users"]

    for server, earlier in zip(cluster.servers, logs_before, strict=True):
        outage_log = server.log()[len(earlier) :]
        line, count = repeated_lines(outage_log).most_common(1)[0] if outage_log.strip() else ("", 0)
        assert count < 3, f"{server.base_url} logged {count} times during the outage: {line!r}\n{outage_log}"
