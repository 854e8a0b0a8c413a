"""The paired A/B benchmark (bench/paired.py): its options and what it reports."""

import argparse

import pytest

from bench.paired import parse_args, parse_env, start_order, summary


def _round(number, a_cpu, b_cpu, sent=12_000, core_busy=70.0):
    return {
        "round": number,
        "A": {"cpu_s": a_cpu, "sent": sent},
        "B": {"cpu_s": b_cpu, "sent": sent},
        "core_busy": core_busy,
    }


def test_an_extra_environment_is_names_and_values_separated_by_commas():
    assert parse_env("CHAT_BENCH_NO_STORE=1, X=a=b") == {"CHAT_BENCH_NO_STORE": "1", "X": "a=b"}
    assert parse_env("") == {}
    with pytest.raises(argparse.ArgumentTypeError):
        parse_env("CHAT_BENCH_NO_STORE")


def test_the_sides_take_turns_at_starting_first():
    assert [start_order(number)[0] for number in (1, 2, 3, 4)] == ["A", "B", "A", "B"]


def test_the_summary_is_b_over_a_each_round_and_their_median():
    result = summary([_round(1, 8.0, 6.0), _round(2, 7.0, 7.0), _round(3, 10.0, 8.0, core_busy=95.0)])

    assert result["ratios"] == [0.75, 1.0, 0.8]
    assert result["median"] == 0.8
    assert result["cpu_us_per_message"] == {"A": 666.7, "B": 583.3}
    assert result["saturated_rounds"] == [3]


def test_a_side_must_be_a_checkout_of_the_app(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--b", str(tmp_path)])
    assert "no wsgi.py" in capsys.readouterr().err


def test_at_least_one_round(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0"])
    assert "--rounds must be at least 1" in capsys.readouterr().err
