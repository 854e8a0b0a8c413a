"""What each index of ``messages`` costs SQLite per stored message, without the app around it.

    .venv/bin/python -m bench.sqlite_indexes                 # every layout, twice, interleaved
    .venv/bin/python -m bench.sqlite_indexes now cid-first   # some of them

Raw ``sqlite3``, one connection, the app's table and pragmas (WAL,
``synchronous=NORMAL``, the store's ``wal_autocheckpoint`` backstop): 100,000
messages among 200 people stored first, then 64,000 more, 64 to a
transaction (a batch of the group commit near the private-message ceiling),
with a PASSIVE checkpoint on a second connection every 12 transactions (the
checkpoint thread's 0.1 s at about 8,000 messages a second). Prints the CPU
per message of the inserts, commits and checkpoints. Layouts:

- ``now``: what migrations 0001 to 0004 build: unique ``(sender_id, cid)``
  and ``recipient_id``, the page's random UUID cids; ``now-timed``: the same
  indexes with time-ordered cids (milliseconds first), which append at the
  end of each sender's range;
- ``cid-first``: unique ``(cid, sender_id)``, a plain ``sender_id`` index
  (history's ``sender_id = ?`` needs one) and ``recipient_id``, with
  time-ordered cids (milliseconds first), which append instead of landing
  anywhere; ``cid-first-random``: the same with random cids;
- ``only-cid``, ``only-recipient``, ``none``: one index, or neither.
"""

import argparse
import random
import sqlite3
import tempfile
import time
import uuid

from app.chat import checkpoints

LAYOUTS = {
    "now": (
        "CREATE UNIQUE INDEX uq ON messages (sender_id, cid)",
        "CREATE INDEX ix_r ON messages (recipient_id)",
    ),
    "now-timed": (
        "CREATE UNIQUE INDEX uq ON messages (sender_id, cid)",
        "CREATE INDEX ix_r ON messages (recipient_id)",
    ),
    "cid-first": (
        "CREATE UNIQUE INDEX uq ON messages (cid, sender_id)",
        "CREATE INDEX ix_s ON messages (sender_id)",
        "CREATE INDEX ix_r ON messages (recipient_id)",
    ),
    "cid-first-random": (
        "CREATE UNIQUE INDEX uq ON messages (cid, sender_id)",
        "CREATE INDEX ix_s ON messages (sender_id)",
        "CREATE INDEX ix_r ON messages (recipient_id)",
    ),
    "only-cid": ("CREATE UNIQUE INDEX uq ON messages (sender_id, cid)",),
    "only-recipient": ("CREATE INDEX ix_r ON messages (recipient_id)",),
    "none": (),
}
TABLE = (
    "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id INTEGER NOT NULL,"
    " recipient_id INTEGER, body TEXT NOT NULL, created_at DATETIME NOT NULL, cid VARCHAR(64),"
    " queued BOOLEAN NOT NULL DEFAULT 0)"
)
INSERT = (
    "INSERT INTO messages (sender_id, recipient_id, body, created_at, cid, queued) VALUES (?, ?, ?, ?, ?, ?)"
)
PEOPLE = 200
BATCH = 64
CHECKPOINT_EVERY = 12  # transactions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layouts", nargs="*", choices=[[], *LAYOUTS], help="default: all")
    parser.add_argument("--messages", type=int, default=64_000, help="messages timed per layout")
    parser.add_argument("--prefill", type=int, default=100_000, help="messages stored first")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    for number in range(1, args.rounds + 1):
        for layout in args.layouts or LAYOUTS:
            cost = measure(layout, args.messages, args.prefill)
            print(f"round {number}, {layout}: {cost:.1f} µs of CPU per message", flush=True)


def measure(layout, messages, prefill):
    """CPU microseconds per message stored in ``layout``, checkpoints included."""
    path = f"{tempfile.mkdtemp(prefix='sqlite-indexes-')}/chat.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    for statement in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA wal_autocheckpoint={checkpoints.BACKSTOP_PAGES}",
        TABLE,
        *LAYOUTS[layout],
    ):
        writer.execute(statement)
    timed_cids = layout in ("cid-first", "now-timed")
    writer.execute("BEGIN")
    writer.executemany(INSERT, _rows(prefill, timed_cids))
    writer.execute("COMMIT")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpointer = sqlite3.connect(path, isolation_level=None)
    batches = [_rows(BATCH, timed_cids) for _ in range(messages // BATCH)]
    started = time.process_time()
    for number, batch in enumerate(batches, 1):
        writer.execute("BEGIN")
        for row in batch:
            writer.execute(INSERT, row)
        writer.execute("COMMIT")
        if number % CHECKPOINT_EVERY == 0:
            checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    cpu = time.process_time() - started
    writer.close()
    checkpointer.close()
    return cpu / (len(batches) * BATCH) * 1e6


def _rows(count, timed_cids):
    """``count`` private messages between random people, with 64-character bodies."""
    return [
        (
            random.randint(1, PEOPLE),
            random.randint(1, PEOPLE),
            "x" * 64,
            "2026-12-04 23:00:00.000000",
            f"{time.time_ns() // 1_000_000:012x}-{uuid.uuid4()}" if timed_cids else str(uuid.uuid4()),
            0,
        )
        for _ in range(count)
    ]


if __name__ == "__main__":
    main()
