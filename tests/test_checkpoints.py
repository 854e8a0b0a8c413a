"""SQLite checkpoints: a native thread copies the WAL into the database, not the store's commits."""

import json
import shutil
import sqlite3

import pytest

from app.auth.models import User
from app.chat import checkpoints
from app.chat.presence import OnlineUser
from app.chat.store import Draft
from app.extensions import db
from tests.support import run_python, wait_until

WAIT = 5


def _store_messages(app, count):
    """Store ``count`` messages one transaction each; return the store's inserter."""
    with app.app_context():
        db.session.add(User("alice", "not a real password"))
        db.session.commit()
        alice = OnlineUser(User.find("alice").id, "alice")
        store = app.extensions["chat"].store
        for n in range(count):
            (outcome,) = store.add_many([Draft(alice, None, f"message {n}", cid=f"c-{n}")])
            assert isinstance(outcome, dict), outcome
        return store._inserter()


def test_stored_messages_reach_the_database_file_through_the_checkpoint_thread(app, tmp_path):
    """The store's commits only append to the WAL; the thread copies them into the file.

    50 transactions are far below SQLite's own threshold (1,000 pages), so
    without the thread the database file alone would hold none of them.
    """
    inserter = _store_messages(app, 50)
    checkpointer = inserter.checkpointer
    assert checkpointer.running
    (backstop,) = inserter._connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchone()
    assert backstop == checkpoints.BACKSTOP_PAGES
    done = checkpointer.checkpoints
    checkpointed = wait_until(lambda: checkpointer.checkpoints >= done + 2, WAIT)
    assert checkpointed is not None, "no checkpoint after the last message"
    # The database file without its WAL: what the checkpoints copied.
    shutil.copy(tmp_path / "chat.sqlite3", tmp_path / "file-only.sqlite3")
    file_only = sqlite3.connect(tmp_path / "file-only.sqlite3")
    try:
        (count,) = file_only.execute("SELECT count(*) FROM messages").fetchone()
    finally:
        file_only.close()
    assert count == 50


def test_disposing_of_the_engine_stops_the_checkpoint_thread(app):
    checkpointer = _store_messages(app, 1).checkpointer
    assert checkpointer.running
    with app.app_context():
        db.engine.dispose()
    stopped = wait_until(lambda: not checkpointer.running, WAIT)
    assert stopped is not None, "the checkpoint thread still runs after dispose()"


def test_only_a_database_file_gets_a_checkpoint_thread(tmp_path):
    in_memory = sqlite3.connect(":memory:")
    on_disk = sqlite3.connect(tmp_path / "x.sqlite3")
    try:
        assert checkpoints.database_file(in_memory) is None
        assert checkpoints.database_file(on_disk) == str(tmp_path / "x.sqlite3")
        assert checkpoints.database_file(object()) is None
    finally:
        in_memory.close()
        on_disk.close()


# The worker's loop stopped in C for 0.5 s (as by a long SQLite call): a greenlet could
# not checkpoint meanwhile, a thread of the operating system can. Prints the count.
_BLOCKED_LOOP = """
import os, sqlite3, tempfile
mode = os.environ["CHECKPOINT_TEST_MODE"]
if mode == "eventlet":
    import eventlet
    eventlet.monkey_patch()
    from eventlet.patcher import original
    native_sleep = original("time").sleep
else:
    from gevent import monkey
    monkey.patch_all()
    native_sleep = monkey.get_original("time", "sleep")
import json
from app.chat.checkpoints import Checkpointer

path = os.path.join(tempfile.mkdtemp(), "x.sqlite3")
writer = sqlite3.connect(path)
writer.execute("PRAGMA journal_mode=WAL")
writer.execute("CREATE TABLE t (x)")
writer.commit()
checkpointer = Checkpointer(path, interval=0.05)
native_sleep(0.5)
print(json.dumps({"checkpoints": checkpointer.checkpoints, "running": checkpointer.running}))
"""


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_checkpoints_run_while_a_green_worker_is_blocked(mode):
    result = run_python(_BLOCKED_LOOP, CHECKPOINT_TEST_MODE=mode)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["running"] and ran["checkpoints"] >= 3, ran
