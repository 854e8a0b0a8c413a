"""Paired A/B: the CPU two servers spend on the same load, at the same time, on the same core.

    .venv/bin/python -m bench.paired --b-env CHAT_BENCH_NO_STORE=1     # what the store costs
    .venv/bin/python -m bench.paired --b /tmp/other-worktree           # a change, against this tree
    .venv/bin/python -m bench.paired --b-kind bare                     # Chatroom against the bare floor

A ladder's ceiling, or one server's CPU at a fixed rate, moves by 10 to 30% between runs
minutes apart on this kind of machine (bench/README.md), far more than most changes are
worth. Here both servers run at once, pinned to the server core, each driven by its own
generator on the other core at the same rate for the same seconds, so whatever the machine
does meanwhile it does to both; each one's CPU seconds are read from /proc over the same
window. ``B/A`` is B's CPU over A's. The servers swap their order of start and of load
every round, so the one started first has no edge. Each server gets a fresh copy of one
SQLite database with the registered users, as in ``bench.run``.

The two servers share one core, so the rate must leave it idle part of the time: once it
is saturated, the kernel splits it evenly and B/A tends to 1 whatever the code. The report
warns when the core was more than 90% busy. What this measures is cost per message below
saturation (batches of about one message), not a ceiling: ``bench.run`` measures those.
"""

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import procstat
from .generator import LoadGenerator
from .run import RESULTS, Bench
from .scenarios import FULL
from .servers import REPO_ROOT, SERVER_CORE, WORKERS, Server, ServerSpec

SATURATED = 90  # % busy of the server core above which the comparison says little
SIDES = ("A", "B")


def parse_env(text):
    """``"K=V,K2=V2"`` as a dict (empty for an empty string)."""
    env = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {item!r}")
        env[name] = value
    return env


def start_order(round_number):
    """Which side starts first (and is loaded first) in a round: A in odd rounds, B in even ones."""
    return SIDES if round_number % 2 else SIDES[::-1]


def summary(rounds):
    """B/A per round and their median, with each side's CPU µs per message (median over rounds)."""
    ratios = [entry["B"]["cpu_s"] / entry["A"]["cpu_s"] for entry in rounds]
    per_message = {
        side: statistics.median(1e6 * entry[side]["cpu_s"] / max(entry[side]["sent"], 1) for entry in rounds)
        for side in SIDES
    }
    return {
        "ratios": [round(ratio, 4) for ratio in ratios],
        "median": round(statistics.median(ratios), 4),
        "cpu_us_per_message": {side: round(value, 1) for side, value in per_message.items()},
        "saturated_rounds": [entry["round"] for entry in rounds if entry["core_busy"] > SATURATED],
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__.split("\n\n")[0])
    for side in ("a", "b"):
        parser.add_argument(f"--{side}", type=Path, default=REPO_ROOT, help="the checkout it runs from")
        parser.add_argument(f"--{side}-env", type=parse_env, default={}, help="extra environment: K=V,K2=V2")
        parser.add_argument(
            f"--{side}-kind",
            choices=("chatroom", "bare"),
            default="chatroom",
            help="Chatroom or the bare app",
        )
    parser.add_argument("--worker", choices=WORKERS, default="eventlet")
    parser.add_argument("--scenario", choices=("private", "fanout"), default="private")
    parser.add_argument("--rate", type=float, default=600, help="messages/s offered to each server")
    parser.add_argument("--seconds", type=float, default=20, help="length of each round's load")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    for side in ("a", "b"):
        if not (getattr(args, side) / "wsgi.py").exists():
            parser.error(f"--{side}: no wsgi.py in {getattr(args, side)}")
    return args


class Side:
    """One server and its generator, for one round."""

    def __init__(self, bench, name, root, kind, worker, env, store="sqlite"):
        self.name = name
        key = f"chatroom-{worker}" if kind == "chatroom" else f"bare-{worker}"
        if kind == "chatroom" and store == "postgresql":
            key += "-postgresql"
        self.spec = ServerSpec(
            key, f"{name}: {key} from {root}", kind, worker, store if kind == "chatroom" else None
        )
        extra = {**bench.server_env(self.spec), **env}
        self.server = Server(self.spec, bench.workdir, FULL.clients, bench.pin, extra, root=root)
        self.generator = None
        self.samples = {}

    def start(self, bench):
        self.server.start()
        self.generator = LoadGenerator(bench.pin, bench.workdir / f"loadgen-paired-{self.name}.log")
        clients = bench.clients_for(self.spec, FULL.clients)
        connected = self.generator.request(
            "connect",
            "connected",
            300,
            url=self.server.url,
            clients=clients,
            auth=self.spec.auth,
            concurrency=FULL.connect_concurrency,
            timeout_ms=30_000,
        )
        if connected["count"] != FULL.clients:
            raise RuntimeError(f"{self.name}: only {connected['count']}/{FULL.clients} connected")
        watch = procstat.Watch(self.server.pid, self.server.memory_pid(), None)
        self.generator.hooks = {
            "step_begin": lambda _event: self.samples.update(begin=watch.snapshot()),
            "step_sent": lambda _event: self.samples.update(sent=watch.snapshot()),
        }

    def stop(self):
        if self.generator is not None:
            self.generator.close()
        self.server.stop()


def side_option(args, name, option=""):
    """One side's command-line value: ``--a``, ``--a-env``, ``--b-kind``..."""
    return getattr(args, f"{name.lower()}{option}")


def _store(args, name):
    """A side's database: SQLite unless ``--a-store``/``--b-store`` (``bench.twin``) says otherwise."""
    return getattr(args, f"{name.lower()}_store", "sqlite")


def make_side(bench, args, name):
    """Side ``name`` as the options describe it."""
    return Side(bench, name, side_option(args, name), side_option(args, name, "_kind"), args.worker,
                side_option(args, name, "_env"), _store(args, name))  # fmt: skip


def describe_sides(args):
    """What the results record of each side: its checkout, kind, store and extra environment."""
    return {
        name: {
            "root": str(side_option(args, name)),
            "kind": side_option(args, name, "_kind"),
            "store": _store(args, name) if side_option(args, name, "_kind") == "chatroom" else None,
            "env": side_option(args, name, "_env"),
        }
        for name in SIDES
    }


def record_head(bench, tool, argv, args):
    """The first fields of a results file: when, the command, the machine, the sides, the worker."""
    return {
        "started_at": bench.started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([f"python -m {tool}", *argv]),
        "machine": procstat.machine(),
        "sides": describe_sides(args),
        "worker": args.worker,
    }


def write_record(prefix, result):
    """Write ``result`` to ``bench/results/<prefix>-<UTC time>.json``; return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{prefix}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def pinned_bench(tool):
    """The benchmark's set-up (users, work directory), or exit: ``tool`` needs taskset and two cores."""
    bench = Bench(argparse.Namespace(no_pin=False), FULL)
    if not bench.pin:
        shutil.rmtree(bench.workdir, ignore_errors=True)
        sys.exit(f"{tool} needs taskset and two cores: the servers share one, the generators the other")
    return bench


def run_round(bench, args, number):
    """Both servers, loaded at once; each side's CPU seconds and what its generator saw."""
    sides = {name: make_side(bench, args, name) for name in SIDES}
    order = start_order(number)
    try:
        for name in order:
            sides[name].start(bench)
        for name in order:
            sides[name].generator.request("quiesce", "quiet", 120, quiet_ms=500, max_s=60)
        step = {"id": number, "kind": args.scenario, "rate": args.rate, "duration_s": args.seconds,
                "senders": FULL.senders, "size": FULL.size, "drain_s": FULL.drain_s}  # fmt: skip
        for name in order:
            sides[name].generator.send("step", **step)
        results = {name: sides[name].generator.expect("step_result", args.seconds + 120) for name in order}
    finally:
        for side in sides.values():
            side.stop()
    entry = {"round": number, "first": order[0]}
    for name, side in sides.items():
        result, usage = results[name], procstat.Watch.usage(side.samples["begin"], side.samples["sent"])
        entry[name] = {
            "cpu_s": usage["cpu_seconds"]["server"],
            "sent": result["sent"],
            "p99_ms": result["latency_ms"].get("p99"),
            "lost": result["lost"],
            "ack_errors": result["ack_errors"],
        }
        entry["core_busy"] = usage[f"cpu{SERVER_CORE}_busy"]  # the same core and about the same window
    return entry


def _run_rounds(bench, args):
    """Register the users once, then every round; each round is logged as it ends."""
    bench.prepare_users(FULL.clients)
    rounds = []
    for number in range(1, args.rounds + 1):
        entry = run_round(bench, args, number)
        rounds.append(entry)
        a, b = entry["A"], entry["B"]
        bench.log(
            f"round {number} ({entry['first']} first): A {a['cpu_s']:.2f} s, B {b['cpu_s']:.2f} s of CPU,"
            f" B/A {b['cpu_s'] / a['cpu_s']:.3f}; p99 {a['p99_ms']} / {b['p99_ms']} ms;"
            f" lost {a['lost']} / {b['lost']}, errors {a['ack_errors']} / {b['ack_errors']};"
            f" server core {entry['core_busy']}% busy"
        )
    return rounds


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    bench = pinned_bench("bench.paired")
    try:
        rounds = _run_rounds(bench, args)
    finally:
        shutil.rmtree(bench.workdir, ignore_errors=True)
    result = {
        **record_head(bench, "bench.paired", argv, args),
        "scenario": args.scenario,
        "rate": args.rate,
        "seconds": args.seconds,
        "rounds": rounds,
        "summary": summary(rounds),
    }
    path = write_record("paired", result)
    total = result["summary"]
    per_message = total["cpu_us_per_message"]
    print(f"B/A by round: {total['ratios']}; median {total['median']}")
    print(f"CPU µs per message (median): A {per_message['A']}, B {per_message['B']}")
    if total["saturated_rounds"]:
        print(f"warning: the server core was over {SATURATED}% busy in rounds {total['saturated_rounds']}")
    if any(entry[side]["lost"] or entry[side]["ack_errors"] for entry in rounds for side in SIDES):
        print("warning: messages were lost or refused in some round (see the JSON)")
    print(f"json: {path}")


if __name__ == "__main__":
    main()
