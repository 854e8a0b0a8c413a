"""The benchmark's rounds (bench/rounds.py): which round stands for a server, and what is never dropped."""

from bench import report
from bench.rounds import combine, paired_ratios


def _step(rate, received, passed=True, lost=0):
    return {"rate": rate, "received_deliveries_s": received, "passed": passed, "lost_final": lost}


def _record(ceiling, lost=0, stray=0):
    """One round of a server: a ladder whose best passing step received ``ceiling`` deliveries/s."""
    steps = [
        _step(ceiling / 2, ceiling / 2),
        _step(ceiling, ceiling),
        _step(ceiling * 2, ceiling, False, lost),
    ]
    return {
        "spec": {"label": "x", "kind": "chatroom", "baseline": "bare-eventlet"},
        "private": {"steps": steps, "best": steps[1]},
        "stray_receipts": stray,
    }


def test_the_median_round_stands_for_the_server_and_every_ceiling_is_kept():
    combined = combine([_record(3000), _record(5000), _record(4000)])

    assert combined["private"]["best"]["received_deliveries_s"] == 4000
    assert combined["private"]["round"] == 3
    assert combined["private"]["ceilings"] == [3000, 5000, 4000]
    assert combined["rounds"] == 3


def test_with_two_rounds_the_lower_one_stands():
    combined = combine([_record(5000), _record(3000)])

    assert combined["private"]["best"]["received_deliveries_s"] == 3000


def test_a_loss_in_a_round_not_kept_is_still_counted():
    combined = combine([_record(3000), _record(5000, lost=7, stray=2), _record(4000)])
    data = {"servers": {"chatroom-eventlet": combined}}

    assert "lost 7," in report.correctness(data)
    assert "stray 2" in report.correctness(data)


def test_a_round_where_nothing_passed_counts_as_zero_not_as_missing():
    failed = _record(1000)
    failed["private"]["best"] = None
    combined = combine([failed, _record(3000), _record(4000)])

    assert combined["private"]["ceilings"] == [0, 3000, 4000]
    assert combined["private"]["best"]["received_deliveries_s"] == 3000


def test_a_round_that_crashed_is_reported_and_left_out_of_the_median():
    crashed = {"spec": _record(0)["spec"], "error": "RuntimeError: only 150/200 connected"}
    combined = combine([_record(3000), crashed, _record(4000)])

    assert combined["error"] == "round 2: RuntimeError: only 150/200 connected"
    assert combined["private"]["ceilings"] == [3000, None, 4000]
    assert combined["private"]["best"]["received_deliveries_s"] == 3000


def test_ratios_are_paired_round_by_round():
    chatroom = combine([_record(3000), _record(4000), _record(2000)])
    bare = combine([_record(4000), _record(4000), _record(4000)])

    assert paired_ratios(chatroom, bare, "private") == [0.75, 1.0, 0.5]
    table = report.rounds_table({"servers": {"chatroom-eventlet": chatroom, "bare-eventlet": bare}})
    assert "0.75 / 1.00 / 0.50 | 0.75x" in table


def test_one_round_is_the_record_itself():
    record = _record(3000)

    assert combine([record]) is record
