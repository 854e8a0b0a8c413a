"""SQLite's checkpoints on a native thread, so that storing a message never waits for one.

In WAL mode every commit appends the pages it changed to the ``-wal`` file,
and a checkpoint copies them back into the database and fsyncs it. SQLite's
own runs inside the commit that takes the WAL past 1,000 pages: the message
store's connection, on the event loop, so every socket of the worker waited
for it. Measured in-process on a 100,000-message SQLite file, 8 messages to a
transaction, with the event loop's other work between commits
(2026-11-28): 40.1 and 40.3 µs per message, commits' p99 8.0 ms, against
22.9 and 23.1 µs and a p99 of 0.33 ms with the checkpoints here; with no
checkpoint at all, 22 to 24.

So the store's connection leaves checkpoints to a thread of the operating
system (not a greenlet: eventlet and gevent cannot switch away from SQLite's C
code, and a green thread would stop the worker just the same) that runs a
PASSIVE checkpoint every ``INTERVAL`` seconds on a connection of its own.
PASSIVE never waits for, nor holds up, a writer or a reader. sqlite3 releases
the GIL while SQLite works, so the event loop runs meanwhile.

A PASSIVE checkpoint copies what was committed before it started; the WAL
starts over from its beginning only once everything in it has been copied
when a transaction begins, which a steady stream of commits rarely allows.
So the store's connection keeps SQLite's own checkpoint as a backstop at
``BACKSTOP_PAGES`` (about 40 MB of WAL with 4 KiB pages): that one copies only
what the thread has not yet copied, and it lets the WAL start over. It took
13 to 16 ms in the measurement above, once per 10,000 pages, against 8 to 11
ms once per 1,000 before.

Written by hand: SQLite has no background checkpointer of its own, and
neither SQLAlchemy nor Flask-SQLAlchemy offers one.
"""

import importlib
import logging
import sqlite3
import sys
import weakref

from ..serving import detect_async_mode

log = logging.getLogger(__name__)

INTERVAL = 0.1  # seconds between checkpoints
BACKSTOP_PAGES = 10_000  # wal_autocheckpoint of the store's connection


def database_file(dbapi_connection):
    """The file of a sqlite3 connection's main database, or None (in memory, or not SQLite)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return None
    for _seq, name, path in dbapi_connection.execute("PRAGMA database_list"):
        if name == "main":
            return path or None
    return None


class Checkpointer:
    """Checkpoints one SQLite file every ``interval`` seconds on a native thread, until stopped.

    The thread holds the checkpointer only weakly: once it is stopped or
    garbage-collected, the thread closes its connection and ends within
    ``interval``.
    """

    def __init__(self, path, interval=INTERVAL):
        self.checkpoints = 0  # how many have run
        self.running = True
        self._stopped = False
        start_new_thread = _native("_thread", "start_new_thread")
        start_new_thread(_run, (weakref.ref(self), path, interval, _native("time", "sleep")))

    def stop(self):
        """Ask the thread to end (it does within ``interval``)."""
        self._stopped = True


def _run(owner, path, interval, sleep):
    connection = None
    try:
        connection = sqlite3.connect(path, timeout=0)
        while True:
            sleep(interval)
            checkpointer = owner()
            if checkpointer is None or checkpointer._stopped:
                return
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:  # the file went away, the disk is full: try again later
                log.warning("SQLite checkpoint of %s failed: %s", path, error)
            checkpointer.checkpoints += 1
            del checkpointer
    except BaseException:  # a thread of its own: nobody else would log it
        log.exception("the SQLite checkpoint thread of %s stopped", path)
    finally:
        if connection is not None:
            connection.close()
        checkpointer = owner()
        if checkpointer is not None:
            checkpointer.running = False


def _native(module, name):
    """``module.name`` as it was before eventlet or gevent patched the standard library."""
    mode = detect_async_mode()
    if mode == "eventlet":
        return getattr(sys.modules["eventlet.patcher"].original(module), name)
    if mode == "gevent":
        return sys.modules["gevent.monkey"].get_original(module, name)
    return getattr(importlib.import_module(module), name)
