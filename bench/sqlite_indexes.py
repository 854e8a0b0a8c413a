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
  and ``recipient_id``, with random UUID cids (the page's until 2026-12-07);
  ``now-timed``: the same indexes with time-ordered cids (milliseconds first,
  then a UUID), which append at the end of each sender's range; ``now-v7``:
  the same with UUIDs version 7, the page's since then (``newCid`` in chat.js);
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
    "now-v7": (
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
    new_cid = (
        _uuid7 if layout == "now-v7" else _timed_cid if layout in ("cid-first", "now-timed") else _random_cid
    )
    writer.execute("BEGIN")
    writer.executemany(INSERT, _rows(prefill, new_cid))
    writer.execute("COMMIT")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpointer = sqlite3.connect(path, isolation_level=None)
    batches = [_rows(BATCH, new_cid) for _ in range(messages // BATCH)]
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


def _rows(count, new_cid):
    """``count`` private messages between random people, with 64-character bodies."""
    return [
        (
            random.randint(1, PEOPLE),
            random.randint(1, PEOPLE),
            "x" * 64,
            "2026-12-04 23:00:00.000000",
            new_cid(),
            0,
        )
        for _ in range(count)
    ]


def _random_cid():
    return str(uuid.uuid4())


def _timed_cid():
    return f"{time.time_ns() // 1_000_000:012x}-{uuid.uuid4()}"


def _uuid7():
    """A UUID version 7 (RFC 9562) as the chat page makes one: milliseconds first, then random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return str(uuid.UUID(int=value))


if __name__ == "__main__":
    main()
