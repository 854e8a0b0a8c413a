"""Twin ladders (bench/twin.py): the ladder's rates, the turns the two ladders take, the report."""

import pytest

from bench.scenarios import FULL, QUICK, ladder_rates
from bench.twin import lost_its_footing, parse_args, summary, take_turns


def _walk(plan, kind, passes):
    """The rates a ladder asks for when ``passes(rate)`` says which steps pass."""
    rates, ladder = [], ladder_rates(plan, kind)
    rate = next(ladder)
    while True:
        rates.append(rate)
        try:
            rate = ladder.send(passes(rate))
        except StopIteration:
            return rates


def test_a_ladder_doubles_until_a_step_fails_then_bisects_three_times():
    assert _walk(FULL, "private", lambda rate: rate <= 5000) == [
        250,
        500,
        1000,
        2000,
        4000,
        8000,
        5656.9,
        4756.8,
        5187.4,
    ]


def test_a_ladder_whose_first_step_fails_looks_below_it():
    assert _walk(FULL, "fanout", lambda rate: rate <= 3) == [10, 5, 2.5, 3.5, 3.0, 3.2]


def test_the_quick_plan_does_not_bisect():
    assert _walk(QUICK, "fanout", lambda rate: rate < 100) == [10, 20, 40, 80, 160]


def test_the_two_ladders_take_turns_the_order_swapping_every_turn():
    """A fails above 4,000 and B above 2,000: each walks its own ladder, their steps interleaved."""
    ran = []

    def run(side, rate):
        ran.append((side, rate))
        return {"passed": rate <= (4000 if side == "A" else 2000)}

    results = take_turns(FULL, "private", run, "B")

    assert ran[:6] == [("B", 250), ("A", 250), ("A", 500), ("B", 500), ("B", 1000), ("A", 1000)]
    a_rates = [rate for side, rate in ran if side == "A"]
    b_rates = [rate for side, rate in ran if side == "B"]
    assert a_rates == _walk(FULL, "private", lambda rate: rate <= 4000)
    assert b_rates == _walk(FULL, "private", lambda rate: rate <= 2000)
    assert [len(results["A"]), len(results["B"])] == [len(a_rates), len(b_rates)]
    # Each turn holds one step of each side while both ladders last.
    both = 2 * min(len(a_rates), len(b_rates))
    assert all({ran[i][0], ran[i + 1][0]} == {"A", "B"} for i in range(0, both, 2))


def test_after_each_step_the_hook_runs_before_the_next_step():
    """``run_round`` replaces a server there, so nothing else may run between a step and its hook."""
    events = []

    def run(side, rate):
        events.append(("step", side, rate))
        return {"passed": rate < 1000, "lost": 5 if side == "A" and rate == 1000 else 0}

    def after(side, result):
        events.append(("after", side, result["lost"]))

    take_turns(FULL, "private", run, "A", after)

    steps = [event for event in events if event[0] == "step"]
    assert events == [
        event for step in steps for event in (step, ("after", step[1], 5 if step[1:] == ("A", 1000) else 0))
    ]
    assert ("after", "A", 5) in events


def test_a_step_that_lost_messages_calls_for_a_fresh_server_and_a_slow_one_does_not():
    assert lost_its_footing({"lost": 7654, "passed": False})
    assert not lost_its_footing({"lost": 0, "passed": False})
    assert not lost_its_footing({"lost": 0, "passed": True})


def test_the_report_is_b_over_a_by_round_and_their_median_with_no_ceiling_as_zero():
    rounds = [
        {"round": 1, "private": {"A": 6000.0, "B": 5400.0}},
        {"round": 2, "private": {"A": 4000.0, "B": 2000.0}},
        {"round": 3, "private": {"A": 5000.0, "B": 5000.0}},
        {"round": 4, "private": {"A": 5000.0, "B": None}},
    ]
    report = summary(rounds)
    assert report["private"]["ratios"] == [0.9, 0.5, 1.0, 0.0]
    assert report["private"]["median"] == pytest.approx(0.7)
    assert "fanout" not in report


def test_postgresql_needs_a_database_url(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit):
        parse_args(["--b-store", "postgresql"])
    assert "DATABASE_URL" in capsys.readouterr().err


def test_the_scenarios_are_fanout_and_private_only(capsys):
    assert parse_args(["--scenarios", "private"]).scenarios == ["private"]
    with pytest.raises(SystemExit):
        parse_args(["--scenarios", "connections"])
    assert "--scenarios" in capsys.readouterr().err
