"""The benchmark's report says which of Chatroom's settings the servers took from the environment."""

from bench.run import _selected, inherited_settings, server_specs


def test_a_setting_the_servers_inherit_is_reported_and_those_the_benchmark_sets_are_not():
    environ = {
        "CHAT_COMMIT_WINDOW_MS": "0",
        "CHAT_BENCH_NO_STORE": "1",
        "CHAT_RATE_LIMIT": "20/10",  # the benchmark sets 0 for every server
        "CHAT_ENV": "development",  # and production
        "CHAT_ASYNC_MODE": "threading",  # never passed on: the worker decides
        "PATH": "/usr/bin",
    }
    assert inherited_settings(environ) == ["CHAT_BENCH_NO_STORE=1", "CHAT_COMMIT_WINDOW_MS=0"]
    assert inherited_settings({"PATH": "/usr/bin"}) == []


def test_servers_are_picked_by_part_of_their_key_or_by_the_whole_key():
    keys = [spec.key for spec in server_specs("postgresql://db", no_store_supported=True)]
    picked = [key for key in keys if _selected(_Spec(key), ["bare-gevent", "chatroom-gevent$"])]
    assert picked == ["bare-gevent", "chatroom-gevent"]
    assert "chatroom-gevent-nostore" in [key for key in keys if _selected(_Spec(key), ["chatroom-gevent"])]
    assert all(_selected(_Spec(key), []) for key in keys)


class _Spec:
    def __init__(self, key):
        self.key = key
