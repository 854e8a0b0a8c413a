"""What storing a message costs by the number of messages per transaction (group commit).

    .venv/bin/python -m bench.store_batches                 # a fresh SQLite file
    .venv/bin/python -m bench.store_batches --people 200    # 200 users, random pairs
    .venv/bin/python -m bench.store_batches postgresql+psycopg://postgres@127.0.0.1/NAME

Runs the app's own ``MessageStore.add_many`` in-process, one thread, no sockets:
the cost the group commit (app/chat/groupcommit.py) divides. ``--people 200``
spreads the messages over 200 users, as the benchmark's private scenario does
(on 2026-11-28 no measurable difference from the default two). Prints the wall
time and the process's CPU time per message, the median transaction, and the
stalls: transactions over five times the median (on SQLite, the automatic
checkpoints, which copy the WAL into the database and fsync it; they stop an
eventlet or gevent worker while they run). The PostgreSQL database must exist
and be empty of users named ``bench_*``; tables are created by the app's
migrations.
"""

import argparse
import random
import statistics
import tempfile
import time
import uuid

from app import create_app
from app.auth.models import User
from app.chat.presence import OnlineUser
from app.chat.store import Draft, MessageStore
from app.extensions import db

BATCHES = (1, 4, 16, 64)
STALL = 5  # times the median transaction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--people", type=int, default=2, help="users sending to each other (default 2)")
    parser.add_argument("--messages", type=int, default=3000, help="messages per batch size (default 3000)")
    args = parser.parse_args(argv)
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='store-batches-')}/chat.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        names = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(max(args.people, 2))]
        db.session.add_all(User(name, "not a real password") for name in names)
        db.session.commit()
        people = [OnlineUser(User.find(name).id, name) for name in names]
        store = MessageStore()
        print(
            f"{url.split('://')[0]}: {args.messages} messages of 64 characters among {len(people)} people,"
            " through MessageStore.add_many"
        )
        for size in BATCHES:
            count = args.messages // size
            took = []
            cpu, started = time.process_time(), time.perf_counter()
            for _ in range(count):
                drafts = [
                    Draft(*random.sample(people, 2), "x" * 64, cid=uuid.uuid4().hex) for _ in range(size)
                ]
                before = time.perf_counter()
                outcomes = store.add_many(drafts)
                took.append(time.perf_counter() - before)
                assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            stored, median = count * size, statistics.median(took)
            stalls = [seconds for seconds in took if seconds > STALL * median]
            print(
                f"  {size:3d} per transaction: {wall / stored * 1e6:6.1f} µs per message"
                f" ({cpu / stored * 1e6:5.1f} of CPU); median transaction {median * 1e3:.2f} ms;"
                f" {len(stalls)} stalls, {sum(stalls) / stored * 1e6:.1f} µs per message, the longest"
                f" {max(took) * 1e3:.1f} ms"
            )
        db.engine.dispose()


if __name__ == "__main__":
    main()
