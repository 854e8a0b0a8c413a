"""A private message's cost above engine.io (bench/event_costs.py): real messages, or a stop."""

import subprocess
import sys

import pytest

from bench.event_costs import _check, _say
from tests.support import REPO_ROOT


def test_every_variant_runs_real_messages_and_reports_a_figure():
    done = subprocess.run(
        [sys.executable, "-m", "bench.event_costs", "--messages", "200", "--rounds", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("round 1, CPU µs per private message: bare ")
    assert "nostore " in lines[0] and "sqlite " in lines[0]
    assert lines[-1].startswith("median: bare ")


def test_a_refused_or_undelivered_message_stops_the_run():
    with pytest.raises(SystemExit, match="not one ack and one delivery each"):
        _check({"acks": 10, "errors": 1, "deliveries": 9, "other": 0}, 10)
    _check({"acks": 10, "errors": 0, "deliveries": 10, "other": 0}, 10)


def test_each_message_is_a_private_say_with_an_ack_id_and_a_fresh_cid():
    first, second = _say(1), _say(2)

    assert first.startswith('2/chat,1["say",{"to":"bob"')
    assert second.startswith('2/chat,2["say"')
    assert first.split('"cid":')[1] != second.split('"cid":')[1]
