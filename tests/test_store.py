"""The message store: rows as SQLAlchemy binds them; on PostgreSQL, batches sent before their answer."""

from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite

from app.auth.models import User
from app.chat.models import Message
from app.chat.presence import OnlineUser
from app.chat.store import _COLUMNS, Draft, DuplicateMessage
from app.extensions import db
from tests.support import wait_until

ALICE, BOB = OnlineUser(1, "alice"), OnlineUser(2, "bob")
DRAFTS = [
    Draft(ALICE, None, "to everyone", cid="c-1", created_at=datetime(2026, 12, 7, 17, 50, 1, 123456)),
    Draft(ALICE, BOB, "to bob, on the second", created_at=datetime(2026, 12, 7, 17, 50, 2)),
    Draft(BOB, ALICE, "while alice was away", cid="c-2", queued=True),
]


@pytest.mark.parametrize("draft", DRAFTS, ids=["public", "whole-second", "queued"])
def test_sqlite_values_are_what_the_column_types_bind(draft):
    dialect = sqlite.dialect()
    expected = []
    for name, value in draft.row().items():
        processor = Message.__table__.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        expected.append(processor(value) if processor else value)
    assert list(draft.row()) == list(_COLUMNS)
    assert list(draft.sqlite_values()) == expected


def test_a_batch_reads_back_as_it_was_given(app):
    with app.app_context():
        db.session.add_all([User("alice", "not a real password"), User("bob", "not a real password")])
        db.session.commit()
        stored = app.extensions["chat"].store.add_many(DRAFTS)
        rows = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert [row.id for row in rows] == [message["id"] for message in stored]
    assert [
        (row.sender_id, row.recipient_id, row.body, row.cid, row.queued, row.created_at) for row in rows
    ] == [
        (d.sender.id, d.recipient.id if d.recipient else None, d.body, d.cid, d.queued, d.created_at)
        for d in DRAFTS
    ]


def _two_users(app):
    with app.app_context():
        db.session.add_all([User("alice", "not a real password"), User("bob", "not a real password")])
        db.session.commit()


def _stored(app):
    with app.app_context():
        return [(row.id, row.body) for row in db.session.scalars(select(Message).order_by(Message.id))]


@pytest.mark.parametrize("database", ["postgresql"])
def test_batches_sent_before_the_one_before_is_answered_keep_their_order(app):
    """``begin`` sends, ``end`` takes the answer: ids in the order the batches were sent."""
    _two_users(app)
    store = app.extensions["chat"].store
    first = [Draft(ALICE, None, "one"), Draft(BOB, None, "two")]
    second = [Draft(ALICE, BOB, "three", cid="c-3")]
    with app.app_context():
        sent = store.begin(first)
        outcomes = store.end(first, sent)
        sent = store.begin(second)
        outcomes += store.end(second, sent)
    assert [message["msg"] for message in outcomes] == ["one", "two", "three"]
    ids = [message["id"] for message in outcomes]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert _stored(app) == list(zip(ids, ["one", "two", "three"], strict=True))


@pytest.mark.parametrize("database", ["postgresql"])
def test_a_repeated_cid_in_a_sent_batch_refuses_the_repeat_only(app):
    _two_users(app)
    store = app.extensions["chat"].store
    with app.app_context():
        (earlier,) = store.end([DRAFTS[0]], store.begin([DRAFTS[0]]))
        batch = [Draft(BOB, None, "new"), Draft(ALICE, None, "again", cid="c-1")]
        new, repeat = store.end(batch, store.begin(batch))
    assert new["msg"] == "new" and new["id"] > earlier["id"]
    assert isinstance(repeat, DuplicateMessage) and repeat.message["id"] == earlier["id"]
    assert [body for _id, body in _stored(app)] == ["to everyone", "new"]


@pytest.mark.parametrize("database", ["postgresql"])
def test_a_connection_lost_while_a_batch_awaits_its_answer_gives_unavailable_then_recovers(app):
    _two_users(app)
    store = app.extensions["chat"].store
    with app.app_context():
        batch = [Draft(ALICE, None, "locked out")]
        db.session.execute(text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
        sent = store.begin(batch)  # waits for the lock, in PostgreSQL
        pid = store._inserter()._connection.dbapi_connection.info.backend_pid
        # Wait until that INSERT is blocked on the lock, then end its session.
        assert wait_until(lambda: _waiting_on_lock(pid), 5) is not None
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.rollback()  # frees the table
        (outcome,) = store.end(batch, sent)
        assert outcome.code == "unavailable"
        again = [Draft(ALICE, None, "after")]
        (after,) = store.end(again, store.begin(again))
    assert after["msg"] == "after"
    assert [body for _id, body in _stored(app)] == ["after"]


def _waiting_on_lock(pid):
    with db.engine.connect() as other:
        return other.scalar(
            text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )


@pytest.mark.parametrize("database", ["postgresql"])
def test_a_batch_whose_answer_was_never_taken_does_not_answer_the_next(app):
    """A bug upstream that sends twice without ``end``: the next batch goes on a new connection."""
    _two_users(app)
    store = app.extensions["chat"].store
    with app.app_context():
        store.begin([Draft(ALICE, None, "forgotten")])
        batch = [Draft(BOB, None, "next")]
        (outcome,) = store.end(batch, store.begin(batch))
    assert outcome["msg"] == "next"
    assert (outcome["id"], "next") in _stored(app)


@pytest.mark.parametrize("database", ["postgresql"])
def test_a_store_closed_while_a_batch_awaits_its_answer_gives_unavailable_then_recovers(app):
    """``engine.dispose()`` closes the kept connection: the batch that awaited it hears ``unavailable``."""
    _two_users(app)
    store = app.extensions["chat"].store
    with app.app_context():
        batch = [Draft(ALICE, None, "cut off")]
        sent = store.begin(batch)
        db.engine.dispose()
        (outcome,) = store.end(batch, sent)
        assert outcome.code == "unavailable"
        again = [Draft(ALICE, None, "after")]
        (after,) = store.end(again, store.begin(again))
    assert (after["id"], "after") in _stored(app)
