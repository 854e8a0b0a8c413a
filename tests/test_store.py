"""The message store's SQLite rows: the values bound by hand are those SQLAlchemy's types would bind."""

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from app.auth.models import User
from app.chat.models import Message
from app.chat.presence import OnlineUser
from app.chat.store import _COLUMNS, Draft
from app.extensions import db

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
