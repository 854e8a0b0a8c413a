"""The rate limit is per user across every process, not per process."""

import pytest

from .conftest import SCALEOUT_REDIS_URL, flushed_redis, running_cluster

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_url):
    """Two processes allowing each user 5 messages a minute."""
    redis_url = flushed_redis(SCALEOUT_REDIS_URL)
    with running_cluster(tmp_path_factory, redis_url, postgres_url, CHAT_RATE_LIMIT="5/60") as running:
        yield running


def test_the_rate_limit_counts_a_users_messages_on_every_process(people, cluster):
    one, two = cluster.servers
    alice, bob = people.browser("alice"), people.browser("bob")
    on_one, on_two = people.tab(alice, one), people.tab(alice, two)
    bob_tab = people.tab(bob, one)

    acks = [on_one.say("all", f"from one {n}") for n in range(3)]
    acks += [on_two.say("all", f"from two {n}") for n in range(3)]
    assert [ack["ok"] for ack in acks] == [True] * 5 + [False]
    assert acks[-1]["error"] == "rate_limited"

    # Only alice is limited; the refused message went nowhere.
    people.sync(bob_tab, on_one, on_two)
    received = [message["msg"] for message in bob_tab.events("say", lambda m: m["from"] == alice.username)]
    assert received == ["from one 0", "from one 1", "from one 2", "from two 0", "from two 1"]
