"""The benchmark counts PostgreSQL's CPU beside the server's: a message's cost wherever it is paid."""

import os
import time

from bench.procstat import Watch
from bench.report import figures, peers_table
from bench.scenarios import _interference


def _burn(seconds):
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_a_database_process_is_counted_from_when_it_is_first_seen():
    me = os.getpid()
    backends = []
    watch = Watch(me, me, None, database=lambda: list(backends))
    first = watch.snapshot()
    backends.append(me)  # a backend that connected in between: all its CPU is the window's
    _burn(0.3)
    second = watch.snapshot()
    _burn(0.2)
    third = watch.snapshot()

    whole = Watch.usage(first, second)["cpu_seconds"]
    assert whole["database"] == round(second.cpu["database"][me], 3) >= 0.3
    since = Watch.usage(second, third)["cpu_seconds"]
    assert 0.15 <= since["database"] < 0.3, "a backend seen before counts only what it used in between"
    assert abs(since["database"] - since["server"]) <= 0.02  # the same process, read moments apart


def test_without_a_database_nothing_is_counted_for_one():
    me = os.getpid()
    watch = Watch(me, me, None)
    usage = Watch.usage(watch.snapshot(), watch.snapshot())
    assert "database" not in usage and "database" not in usage["cpu_seconds"]


def test_the_databases_cpu_is_not_other_work():
    usage = {"server": 90.0, "generator": 30.0, "cpu0_busy": 95.0, "cpu1_busy": 50.0}
    assert _interference(usage) == 20.0  # core 1: 20% of someone else's
    assert _interference({**usage, "database": 22.0}) == 3.0  # 5 + 20 - 22, wherever it ran
    assert _interference({**usage, "database": 40.0}) == 0


def _record(database=None):
    usage = {"server": 80.0, "generator": 30.0, "cpu_seconds": {}}
    if database is not None:
        usage["database"] = database
    step = {"kind": "private", "rate": 4000, "passed": True, "received_deliveries_s": 4000.0}
    step |= {"latency_ms": {"count": 1, "p99": 20.0}, "usage": usage, "generator_saturated": False}
    return {"spec": {"label": "a server", "kind": "chatroom"}, "private": {"steps": [step], "best": step}}


def test_the_report_gives_the_databases_cpu_per_message_where_one_was_watched():
    assert figures(_record(database=20.0))["private_database_cpu"][0] == 50.0  # 20% of a core / 4,000
    assert "private_database_cpu" not in figures(_record())
    with_database = peers_table({"servers": {"pg": _record(database=20.0), "sqlite": _record()}})
    assert "private: PostgreSQL's CPU µs per message at its own best rate | 50.0 | - |" in with_database
    assert "PostgreSQL's CPU" not in peers_table({"servers": {"sqlite": _record()}})
