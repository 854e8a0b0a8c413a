"""The benchmark: Chatroom against a Node socket.io peer and a bare Flask-SocketIO app.

    .venv/bin/python -m bench.run            # the full run (10-15 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    # fewer, shorter steps (or BENCH_QUICK=1)
    .venv/bin/python -m bench.run --rounds 3 # every server three times, interleaved: medians

Every server runs on core 0 and the Node load generator on core 1 (taskset).
For each server: idle connections on a fresh process, then room fan-out and
private messages on another fresh process, each as a ladder of offered rates.
Results go to bench/results/ (JSON, Markdown, a PNG chart). See bench/README.md.
"""

import argparse
import contextlib
import json
import os
import resource
import secrets
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from . import accounts, report, rounds
from .generator import LoadGenerator
from .procstat import Watch, machine, wait_for_quiet
from .profiling import Profiler, hot_spots, py_spy
from .scenarios import FULL, QUICK, StepRunner, best_step, connections
from .servers import GENERATOR_CORE, REPO_ROOT, WORKERS, Server, ServerSpec, can_pin, secret_key

RESULTS = REPO_ROOT / "bench" / "results"
SCENARIOS = ("fanout", "private", "connections")


def server_specs(postgres_url, no_store_supported):
    """Every server configuration, in the order they run."""
    specs = [ServerSpec("node", "Node socket.io 4.8", "node")]
    specs += [
        ServerSpec(f"bare-{worker}", f"bare Flask-SocketIO, gunicorn {worker}", "bare", worker)
        for worker in WORKERS
    ]
    specs += [
        ServerSpec(f"chatroom-{worker}", f"Chatroom, gunicorn {worker}, SQLite", "chatroom", worker, "sqlite")
        for worker in WORKERS
    ]
    if no_store_supported:
        for worker in WORKERS:
            specs.append(
                ServerSpec(
                    f"chatroom-{worker}-nostore",
                    f"Chatroom, gunicorn {worker}, no store",
                    "chatroom",
                    worker,
                    "none",
                    env={"CHAT_BENCH_NO_STORE": "1"},
                )
            )
    if postgres_url:
        for worker in WORKERS:
            specs.append(
                ServerSpec(
                    f"chatroom-{worker}-postgresql",
                    f"Chatroom, gunicorn {worker}, PostgreSQL",
                    "chatroom",
                    worker,
                    "postgresql",
                )
            )
    return specs


def no_store_supported():
    """Whether the app has the benchmark-only switch CHAT_BENCH_NO_STORE."""
    import config

    return hasattr(config.Config, "CHAT_BENCH_NO_STORE")


class Bench:
    """One invocation: the users, the servers, the results."""

    def __init__(self, args, plan):
        self.args = args
        self.plan = plan
        self.pin = can_pin() and not args.no_pin
        self.workdir = Path(tempfile.mkdtemp(prefix="chatroom-bench-"))
        self.token = secrets.token_hex(2)
        self.secret_key = secret_key()
        self.template = self.workdir / "template.sqlite3"
        self.database_count = 0
        self.cookies = {}  # SQLite users: name -> session cookie
        self.postgres = None  # (url, drop function, cookies)
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.notes = []
        inherited = inherited_settings(os.environ)
        if inherited:
            self.notes.append(f"the servers inherited {', '.join(inherited)} from the environment")
        self.round = 1
        self._backends = None  # a connection asking PostgreSQL which backends serve the benchmark
        self.results = {}  # server key -> its record in each round run so far

    # ------------------------------------------------------------------ output

    def log(self, line):
        """Progress on stderr, with the elapsed time."""
        print(f"[{time.monotonic() - self.started:7.1f}s] {line}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ users

    def chatroom_env(self, database_url):
        """What every Chatroom process gets: production settings, no rate limit."""
        return {
            "SECRET_KEY": self.secret_key,
            "CHAT_ENV": "production",
            "DATABASE_URL": database_url,
            "CHAT_RATE_LIMIT": "0",
        }

    def fresh_sqlite(self):
        """A fresh copy of the template database (users only) for one server."""
        self.database_count += 1
        path = self.workdir / f"chat-{self.database_count}.sqlite3"
        accounts.copy_sqlite(self.template, path)
        return f"sqlite:///{path}"

    def prepare_users(self, needed):
        """Register the chatting users through the form; seed and log in the rest (idle)."""
        names = accounts.usernames(self.token, needed)
        registered, seeded = names[: self.plan.clients], names[self.plan.clients :]
        setup = ServerSpec("setup", "setup", "chatroom", "gthread", "sqlite")
        server = Server(
            setup, self.workdir, 16, pin=False, extra_env=self.chatroom_env(f"sqlite:///{self.template}")
        )
        server.start()
        try:
            self.log(f"registering {len(registered)} users through /auth/register")
            self.cookies.update(accounts.register(server.url, registered))
            if seeded:
                self.log(f"seeding {len(seeded)} more users, logging them in through /auth/login")
                accounts.seed(f"sqlite:///{self.template}", seeded, self.secret_key)
                self.cookies.update(accounts.login(server.url, seeded))
        finally:
            server.stop()

    def prepare_postgres(self, url):
        """A database of our own on the PostgreSQL server DATABASE_URL names, with registered users."""
        database_url, drop = _postgres_database(url, f"chatroom_bench_{self.token}")
        if drop is None:
            self.notes.append("could not create a PostgreSQL database: used DATABASE_URL's own database")
        setup = ServerSpec("setup-postgresql", "setup", "chatroom", "gthread", "postgresql")
        server = Server(setup, self.workdir, 16, pin=False, extra_env=self.chatroom_env(database_url))
        server.start()
        try:
            names = accounts.usernames(self.token, self.plan.clients)
            self.log(f"registering {len(names)} users on PostgreSQL")
            cookies = accounts.register(server.url, names)
        finally:
            server.stop()
        self.postgres = (database_url, drop, cookies)

    def postgres_backends(self):
        """The pids of the PostgreSQL backends connected to the benchmark's database (its server's)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.postgres[0])
        if self._backends is None:
            import psycopg

            conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._backends = psycopg.connect(conninfo, autocommit=True)
        rows = self._backends.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [url.database]
        )
        return [pid for (pid,) in rows]

    def drop_postgres(self):
        """Close the connection asking for backends, then drop the benchmark's PostgreSQL database."""
        if self._backends is not None:
            self._backends.close()
            self._backends = None
        if self.postgres and self.postgres[1]:
            self.postgres[1]()

    def clients_for(self, spec, count):
        """What the generator connects as: cookies for Chatroom, names for the peers."""
        names = accounts.usernames(self.token, count)
        if spec.kind != "chatroom":
            return [{"name": name} for name in names]
        cookies = self.postgres[2] if spec.store == "postgresql" else self.cookies
        return [{"name": name, "cookie": cookies[name]} for name in names]

    def server_env(self, spec):
        """Chatroom's environment for one fresh process; none for the peers."""
        if spec.kind != "chatroom":
            return {}
        if spec.store == "postgresql":
            return self.chatroom_env(self.postgres[0])
        return self.chatroom_env(self.fresh_sqlite())

    # ------------------------------------------------------------------ runs

    def over_budget(self):
        """Whether the time budget is spent (the remaining servers are then skipped)."""
        return time.monotonic() - self.started > self.args.budget_min * 60

    def run_connections(self, spec):
        """Idle connections on a fresh server process."""
        plan = self.plan
        total = plan.warm + plan.idle
        server = self.server(spec, total).start()
        try:
            with LoadGenerator(self.pin, self.workdir / f"loadgen-{spec.key}-idle.log") as generator:
                watch = Watch(server.pid, server.memory_pid(), generator.pid)
                clients = self.clients_for(spec, total)
                result = connections(generator, watch, server.url, clients, spec.auth, plan, self.log)
            self.check_worker(server, spec, result, "the idle connections")
            if result.get("worker_restarts"):
                result["kb_per_connection"] = None  # the RSS is the new worker's
            return result
        finally:
            server.stop()

    def run_messages(self, spec, kinds):
        """Fan-out and private ladders on one fresh server process with the N clients connected."""
        plan = self.plan
        server = self.server(spec, plan.clients).start()
        out = {"command": shlex.join(server.command)}
        try:
            with LoadGenerator(self.pin, self.workdir / f"loadgen-{spec.key}.log") as generator:
                database = self.postgres_backends if spec.store == "postgresql" else None
                watch = Watch(server.pid, server.memory_pid(), generator.pid, database)
                connected = generator.request(
                    "connect",
                    "connected",
                    300,
                    url=server.url,
                    clients=self.clients_for(spec, plan.clients),
                    auth=spec.auth,
                    concurrency=plan.connect_concurrency,
                    timeout_ms=30_000,
                )
                if connected["count"] != plan.clients:
                    raise RuntimeError(
                        f"only {connected['count']}/{plan.clients} connected: {connected['errors']}"
                    )
                out["extensions"] = connected["extensions"]
                generator.request("quiesce", "quiet", 120, quiet_ms=500, max_s=60)
                # py-spy's own CPU would read as interference: no retries while profiling.
                runner = StepRunner(generator, watch, plan, self.log, retry=not self.args.profile)
                profiler = self.start_profile(spec, server)
                try:
                    steps = {kind: runner.ladder(kind) for kind in kinds}
                finally:
                    if profiler:
                        out["profile"] = hot_spots(profiler.stop())
                        out["profile_file"] = str(profiler.path)
                final = generator.request("final", "final", 120)
                _merge_final(steps, final)
                out["stray_receipts"] = final["stray_receipts"]
                out["unexpected_disconnects"] = final["unexpected_disconnects"]
                for kind, results in steps.items():
                    out[kind] = {"steps": results, "best": best_step(results)}
            self.check_worker(server, spec, out, "the message steps")
            if self.args.gc_log and spec.kind != "node":
                out["gc"] = _gc_summary(server.gc_pauses(), self.args.gc_freeze)
        finally:
            server.stop()
        return out

    def server(self, spec, connections):
        """A fresh server process for ``spec``, sized for ``connections`` sockets."""
        env = self.server_env(spec)
        config = None
        if spec.kind != "node" and (self.args.gc_log or self.args.gc_freeze):
            config = REPO_ROOT / "bench" / "gc_probe.py"
            if self.args.gc_freeze:
                env["BENCH_GC_FREEZE"] = "1"
        return Server(spec, self.workdir, connections, self.pin, env, gunicorn_config=config)

    def check_worker(self, server, spec, record, what):
        """Record (and say) when gunicorn replaced its worker: every socket was dropped then."""
        restarts = server.worker_restarts()
        if restarts:
            record["worker_restarts"] = restarts
            message = (
                f"{spec.key}: gunicorn replaced its worker {restarts}x during {what}"
                " (WORKER TIMEOUT: the worker missed its heartbeat), dropping every socket"
            )
            self.notes.append(message)
            self.log(f"  {message}")

    def start_profile(self, spec, server):
        """With --profile, sample the Python server's worker with py-spy during the message ladders."""
        if not self.args.profile or spec.kind == "node":
            return None
        if not py_spy():
            self.notes.append("--profile: py-spy is not installed (pip install py-spy): no profiles")
            return None
        directory = RESULTS / "profiles"
        directory.mkdir(parents=True, exist_ok=True)
        name = spec.key if self.args.rounds == 1 else f"{spec.key}-round{self.round}"
        return Profiler(server.memory_pid(), directory / f"{name}.txt", self.pin)

    def run_server(self, spec, scenarios, number=1):
        """Every scenario that applies to ``spec`` (idle connections in the first round only).

        A failure is recorded, not fatal.
        """
        self.round = number
        waited, busy = wait_for_quiet(longest=self.args.quiet_wait)
        of = f", round {number} of {self.args.rounds}" if self.args.rounds > 1 else ""
        self.log(f"== {spec.label}{of} (waited {waited} s for a quiet machine: {busy})")
        record = {"spec": _spec_record(spec), "quiet_wait": {"seconds": waited, "busy": busy}}
        try:
            if "connections" in scenarios and spec.store in (None, "sqlite") and number == 1:
                record["connections"] = self.run_connections(spec)
            kinds = [kind for kind in ("fanout", "private") if kind in scenarios]
            if kinds:
                record.update(self.run_messages(spec, kinds))
        except Exception as error:
            self.log(f"  {spec.key} failed: {error}")
            record["error"] = "".join(traceback.format_exception_only(error)).strip()
            traceback.print_exc()
        self.results.setdefault(spec.key, []).append(record)

    def run(self):
        """Set up, run every server, write the results; returns the results' paths."""
        args, plan = self.args, self.plan
        scenarios = args.scenarios
        no_store = no_store_supported()
        if not no_store:
            self.notes.append(
                "CHAT_BENCH_NO_STORE is not in this version of the app: no-store variant skipped"
            )
        database_url = os.environ.get("DATABASE_URL", "")
        postgres_url = database_url if database_url.startswith("postgresql") else None
        specs = [spec for spec in server_specs(postgres_url, no_store) if _selected(spec, args.servers)]
        self.log(f"{plan.name} run: {', '.join(spec.key for spec in specs)}; work dir {self.workdir}")
        if plan.fixed is not None:
            self.notes.append(
                f"--fixed {plan.fixed:g}: one step per message scenario at that rate, no ladder;"
                " a 'max' figure is that step's, not a ceiling"
            )
        if not self.pin:
            self.notes.append(
                "server and generator were not pinned to separate cores (no taskset or one core)"
            )
        chat_specs = [spec for spec in specs if spec.kind == "chatroom"]
        if any(spec.store != "postgresql" for spec in chat_specs):
            needed = plan.warm + plan.idle if "connections" in scenarios else plan.clients
            self.prepare_users(max(needed, plan.clients))
        if any(spec.store == "postgresql" for spec in chat_specs):
            self.prepare_postgres(postgres_url)
        if self.pin:
            # The orchestrator mostly waits; keep it off the server's core all the same.
            os.sched_setaffinity(0, {GENERATOR_CORE})
        if args.rounds > 1:
            self.notes.append(
                f"--rounds {args.rounds}: every server ran {args.rounds} times, interleaved (each round in"
                " the opposite order to the one before); each figure is from the server's median round"
                " (table 'Rounds'), idle connections from the first round only"
            )
        try:
            for number in range(1, args.rounds + 1):
                for spec in specs if number % 2 else specs[::-1]:
                    if self.over_budget():
                        self.notes.append(
                            f"{spec.key} round {number} skipped: the {args.budget_min:g} min budget was spent"
                        )
                        continue
                    self.run_server(spec, scenarios, number)
        finally:
            self.drop_postgres()
        return self.write()

    def write(self):
        """JSON, Markdown, chart and README section under bench/results/."""
        finished = datetime.now(UTC)
        data = {
            "started_at": self.started_at,
            "finished_at": finished.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self.started, 1),
            "plan": self.plan.as_dict(),
            "command": self.args.command,
            "machine": machine(),
            "pinned": self.pin,
            "rate_limit": "CHAT_RATE_LIMIT=0 (the per-user limit is off for Chatroom)",
            "versions": report.versions(),
            "notes": self.notes,
            "rounds": self.args.rounds,
            "servers": {key: rounds.combine(records) for key, records in self.results.items()},
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = finished.strftime("%Y%m%dT%H%M%SZ")
        paths = report.write_all(data, RESULTS, stamp)
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return paths


def _merge_final(steps, final):
    """Add what arrived after each step was reported: the loss that stands at the end of the run."""
    by_id = {step["id"]: step for step in final["steps"]}
    for results in steps.values():
        for result in results:
            last = by_id.get(result["id"], {})
            result["late"] = last.get("late", 0)
            result["lost_final"] = last.get("lost", result["lost"])
            result["unacked_final"] = last.get("unacked", result["unacked"])
            for name in ("duplicates", "reordered", "misrouted"):
                result[name] = last.get(name, result[name])


def _gc_summary(pauses, frozen):
    full = sorted(pauses["full"])
    return {
        "frozen": frozen,
        "full_collections": len(full),
        "full_median_ms": full[len(full) // 2] if full else None,
        "full_max_ms": full[-1] if full else None,
        "other_over_5ms": len(pauses["long"]),
    }


def _spec_record(spec):
    return {
        "label": spec.label,
        "kind": spec.kind,
        "worker": spec.worker,
        "store": spec.store,
        "baseline": spec.baseline,
    }


def inherited_settings(environ):
    """Chatroom's settings (``CHAT_*``) that every server takes from ``environ``, as NAME=VALUE.

    So a run under, say, ``CHAT_COMMIT_WINDOW_MS=0`` says so in its report.
    CHAT_ASYNC_MODE is never passed on (servers.py); ``chatroom_env`` sets the other two.
    """
    ours = ("CHAT_ASYNC_MODE", "CHAT_ENV", "CHAT_RATE_LIMIT")
    return sorted(
        f"{name}={value}" for name, value in environ.items() if name.startswith("CHAT_") and name not in ours
    )


def _selected(spec, patterns):
    """Whether ``spec`` is asked for: its key contains a pattern, or is ``key$`` less its ``$``."""
    return not patterns or any(
        spec.key == pattern[:-1] if pattern.endswith("$") else pattern in spec.key for pattern in patterns
    )


def _postgres_database(url, name):
    """Create database ``name`` next to ``url``'s; return (its URL, a function dropping it)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return url, None

    def drop():
        with contextlib.suppress(psycopg.Error), psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return parsed.set(database=name).render_as_string(hide_password=False), drop


def _raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_args(argv):
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter steps (also BENCH_QUICK=1)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--servers",
        default="",
        help="only servers whose key contains one of these (comma-separated; 'key$': that key alone)",
    )
    parser.add_argument("--idle", type=int, help="idle clients in the connections scenario")
    parser.add_argument("--step-seconds", type=float, help="length of each load step")
    parser.add_argument(
        "--fixed",
        type=float,
        help="one step per message scenario at this many messages/s instead of a ladder"
        " (to compare CPU at equal load)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times, interleaved, and report its median round (bench/rounds.py)",
    )
    parser.add_argument(
        "--budget-min",
        type=float,
        help="skip the remaining servers after this many minutes (20 a round; quick: 10)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and generator to cores")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds to wait for other work to stop before each server (30; quick: 10)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (server logs, databases)"
    )
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="log the Python servers' garbage-collection pauses (bench/gc_probe.py)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() in the Python servers' workers after start-up (implies --gc-log)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the Python servers with py-spy during the message steps",
    )
    args = parser.parse_args(argv)
    args.scenarios = [item for item in args.scenarios.split(",") if item]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.servers = [item for item in args.servers.split(",") if item]
    args.gc_log = args.gc_log or args.gc_freeze
    args.quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    if args.quiet_wait is None:
        args.quiet_wait = 10 if args.quick else 30
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.budget_min is None:
        args.budget_min = (10 if args.quick else 20) * args.rounds
    args.command = os.environ.get("BENCH_COMMAND") or shlex.join(["python", "-m", "bench.run", *argv])
    if os.environ.get("BENCH_QUICK", "") not in ("", "0"):
        args.command = f"BENCH_QUICK={os.environ['BENCH_QUICK']} {args.command}"
    return args


def main(argv=None):
    """Run the benchmark and print where the results are."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides = {}
    if args.idle is not None:
        overrides["idle"] = args.idle
    if args.step_seconds is not None:
        overrides["step_s"] = args.step_seconds
    if args.fixed is not None:
        overrides["fixed"] = args.fixed
    if overrides:
        plan = type(plan)(**{**plan.as_dict(), **overrides})
    _raise_file_limit()
    paths = Bench(args, plan).run()
    print(report.summary_text(json.loads(Path(paths["json"]).read_text())))
    for kind, path in paths.items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
