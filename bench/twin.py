"""Twin ladders: two servers' ceilings, measured step by step in turn, so the machine's drift hits both.

    .venv/bin/python -m bench.twin --worker gevent --scenarios fanout,private --rounds 3
    .venv/bin/python -m bench.twin --a-kind chatroom --b /tmp/other-worktree   # a change, by ceilings

``bench.run --rounds`` interleaves whole ladders, a minute or more apart. On the hosts this
was built on the machine's own speed drifts on that scale: in one run of rounds (2026-12-07,
evening) the bare eventlet floor's private ceiling read 6,129, 4,359 and 3,658 messages a
second in its three rounds, and single rounds' Chatroom/bare ratios ranged from 0.50 to 1.54.
Here both servers are up at once, pinned to the server core, each with its own 200
clients from its own generator on the other core. Their ladders (``scenarios.ladder_rates``:
the rates and the pass rule of ``bench.run``) take turns: one step of A, one of B, the
order swapped every turn. So steps at the same stage of the two ladders are seconds apart,
and a slow minute falls on both. The server whose turn it is not holds its sockets open
without traffic (Engine.IO's pings only). Each round starts two fresh servers; the report
is B's ceiling over A's in each round, and their median.

By default A is the bare Flask-SocketIO floor and B is Chatroom on SQLite from this checkout,
under the same worker: the issue's Chatroom/bare ratio. ``--b-store postgresql`` (with
``DATABASE_URL``) puts Chatroom on a PostgreSQL database of its own, dropped afterwards.
"""

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

from . import procstat
from .paired import SIDES, make_side, parse_env, pinned_bench, record_head, start_order, write_record
from .scenarios import FULL, StepRunner, best_step, ladder_rates
from .servers import REPO_ROOT, WORKERS

SCENARIOS = ("fanout", "private")


def take_turns(plan, kind, run, first, after=None):
    """Both sides' ladders, one step each in turn; ``run(side, rate)`` runs a step and returns its result.

    ``first`` is the side that steps first; the order swaps every turn. A side
    whose ladder is done drops out and the other goes on alone. ``after(side,
    result)``, when given, runs after each step, before the next one (``run_round``
    restarts a server there). Returns each side's results, in the order its steps ran.
    """
    ladders = {side: ladder_rates(plan, kind) for side in SIDES}
    rates = {side: next(ladder) for side, ladder in ladders.items()}
    results = {side: [] for side in SIDES}
    order = [first, *(side for side in SIDES if side != first)]
    while rates:
        for side in order:
            if side not in rates:
                continue
            result = run(side, rates[side])
            results[side].append(result)
            if after is not None:
                after(side, result)
            try:
                rates[side] = ladders[side].send(result["passed"])
            except StopIteration:
                del rates[side]
        order.reverse()
    return results


def ceiling(results):
    """The highest received deliveries/s of a passing step, or None (as ``bench.run`` reports it)."""
    best = best_step(results)
    return best["received_deliveries_s"] if best else None


def summary(rounds):
    """Per scenario: each round's ceilings, B over A, and the median of those ratios."""
    report = {}
    for kind in SCENARIOS:
        entries = [entry[kind] for entry in rounds if kind in entry]
        if not entries:
            continue
        ratios = [entry["B"] / entry["A"] if entry["A"] and entry["B"] else 0.0 for entry in entries]
        report[kind] = {
            "A": [entry["A"] for entry in entries],
            "B": [entry["B"] for entry in entries],
            "ratios": [round(ratio, 3) for ratio in ratios],
            "median": round(statistics.median(ratios), 3),
        }
    return report


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.twin", description=__doc__.split("\n\n")[0])
    for side, kind in (("a", "bare"), ("b", "chatroom")):
        parser.add_argument(f"--{side}", type=Path, default=REPO_ROOT, help="the checkout it runs from")
        parser.add_argument(f"--{side}-env", type=parse_env, default={}, help="extra environment: K=V,K2=V2")
        parser.add_argument(f"--{side}-kind", choices=("chatroom", "bare"), default=kind)
        parser.add_argument(
            f"--{side}-store",
            choices=("sqlite", "postgresql"),
            default="sqlite",
            help="Chatroom's database (postgresql: the server DATABASE_URL names)",
        )
    parser.add_argument("--worker", choices=WORKERS, default="eventlet")
    parser.add_argument("--scenarios", default="fanout,private", help="comma-separated: fanout,private")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if not args.scenarios or set(args.scenarios) - set(SCENARIOS):
        parser.error(f"--scenarios: a comma-separated subset of {','.join(SCENARIOS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if "postgresql" in (args.a_store, args.b_store) and not os.environ.get("DATABASE_URL", "").startswith(
        "postgresql"
    ):
        parser.error("--a-store/--b-store postgresql: DATABASE_URL must name a PostgreSQL server")
    for side in ("a", "b"):
        if not (getattr(args, side) / "wsgi.py").exists():
            parser.error(f"--{side}: no wsgi.py in {getattr(args, side)}")
    return args


def _steps(result):
    """What the JSON keeps of a step."""
    latency = result["latency_ms"]
    return {
        "rate": result["rate"],
        "passed": result["passed"],
        "received_deliveries_s": result["received_deliveries_s"],
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "lost": result["lost"],
        "ack_errors": result["ack_errors"],
        "server_cpu": result["usage"]["server"],
        "interference": result["interference"],
    }


def _on_postgresql(side):
    return side.spec.store == "postgresql"


def _runner(bench, name, side):
    """Steps on one side's generator, logged with the side's name."""
    database = bench.postgres_backends if _on_postgresql(side) else None
    watch = procstat.Watch(side.server.pid, side.server.memory_pid(), side.generator.pid, database)
    return StepRunner(side.generator, watch, FULL, lambda line: bench.log(f"{name}{line}"))


def _quiesce(side):
    """Wait until the side's connected clients' traffic (history, presence notices) has died down."""
    side.generator.request("quiesce", "quiet", 120, quiet_ms=500, max_s=60)


def lost_its_footing(result):
    """Whether a step left its server unfit for the next one: it lost messages (``run_round``)."""
    return result["lost"] > 0


def run_round(bench, args, number):
    """Two fresh servers, connected; each scenario's twin ladders; the ceilings and every step.

    A server that lost messages in a step is replaced at once by a fresh one, its
    clients connected anew, before any other step runs. The bare floor under
    gthread, overloaded, went on holding the server's core at 100% delivering
    nothing, so the other side's next steps ran beside it and failed, and then a
    load generator exited and the run stopped (2026-12-07 and 2026-12-08). The
    step that lost still fails, and the ladder goes on from it as usual.
    """
    sides = {name: make_side(bench, args, name) for name in SIDES}
    first = start_order(number)[0]
    entry = {"round": number, "first": first, "restarts": []}
    runners = {}

    def replace_if_lost(name, result):
        if not lost_its_footing(result):
            return
        bench.log(f"{name}  lost {result['lost']} in that step: a fresh server before the next step")
        entry["restarts"].append({"side": name, "kind": result["kind"], "rate": result["rate"]})
        sides[name].stop()
        sides[name] = make_side(bench, args, name)
        sides[name].start(bench)
        _quiesce(sides[name])
        runners[name] = _runner(bench, name, sides[name])

    try:
        for name in start_order(number):
            sides[name].start(bench)
        for side in sides.values():
            _quiesce(side)
        runners.update({name: _runner(bench, name, side) for name, side in sides.items()})
        for kind in args.scenarios:
            results = take_turns(
                FULL,
                kind,
                lambda name, rate, kind=kind: runners[name].run(kind, rate),
                first,
                replace_if_lost,
            )
            entry[kind] = {name: ceiling(results[name]) for name in SIDES}
            entry[kind]["steps"] = {name: [_steps(result) for result in results[name]] for name in SIDES}
            a, b = entry[kind]["A"], entry[kind]["B"]
            ratio = f"{b / a:.3f}" if a and b else "-"
            bench.log(f"round {number} ({first} first), {kind}: ceilings A {a}, B {b}; B/A {ratio}")
    finally:
        for side in sides.values():
            side.stop()
    return entry


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    bench = pinned_bench("bench.twin")
    try:
        bench.prepare_users(FULL.clients)
        if "postgresql" in (args.a_store, args.b_store):
            bench.prepare_postgres(os.environ["DATABASE_URL"])
        rounds = [run_round(bench, args, number) for number in range(1, args.rounds + 1)]
    finally:
        bench.drop_postgres()
        shutil.rmtree(bench.workdir, ignore_errors=True)
    result = {
        **record_head(bench, "bench.twin", argv, args),
        "rounds": rounds,
        "summary": summary(rounds),
    }
    path = write_record("twin", result)
    for kind, figures in result["summary"].items():
        print(f"{kind}: A {figures['A']}, B {figures['B']}; B/A by round {figures['ratios']},"
              f" median {figures['median']}")  # fmt: skip
    lost = any(
        step["lost"] or step["ack_errors"]
        for entry in rounds
        for kind in args.scenarios
        for name in SIDES
        for step in entry[kind]["steps"][name]
    )
    if lost:
        print("warning: messages were lost or refused in some step (see the JSON)")
    print(f"json: {path}")


if __name__ == "__main__":
    main()
