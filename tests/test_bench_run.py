"""The benchmark's report says which of Chatroom's settings the servers took from the environment."""

from bench.run import inherited_settings


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
