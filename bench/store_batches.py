"""What storing a message costs by the number of messages per transaction (group commit).

    .venv/bin/python -m bench.store_batches                 # a fresh SQLite file
    .venv/bin/python -m bench.store_batches postgresql+psycopg://postgres@127.0.0.1/NAME

Runs the app's own ``MessageStore.add_many`` in-process, one thread, no sockets:
the cost the group commit (app/chat/groupcommit.py) divides. The PostgreSQL
database must exist and be empty of users named ``bench_*``; tables are created
by the app's migrations.
"""

import sys
import tempfile
import time
import uuid

from app import create_app
from app.auth.models import User
from app.chat.presence import OnlineUser
from app.chat.store import Draft, MessageStore
from app.extensions import db

MESSAGES = 3000
BATCHES = (1, 4, 16, 64)


def main(argv):
    url = argv[0] if argv else f"sqlite:///{tempfile.mkdtemp(prefix='store-batches-')}/chat.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        sender_name, recipient_name = (f"bench_{uuid.uuid4().hex[:8]}" for _ in range(2))
        for name in (sender_name, recipient_name):
            db.session.add(User(name, "not a real password"))
        db.session.commit()
        sender, recipient = (OnlineUser(User.find(name).id, name) for name in (sender_name, recipient_name))
        store = MessageStore()
        print(f"{url.split('://')[0]}: {MESSAGES} messages of 64 characters, through MessageStore.add_many")
        for size in BATCHES:
            started = time.perf_counter()
            for _ in range(MESSAGES // size):
                drafts = [Draft(sender, recipient, "x" * 64, cid=uuid.uuid4().hex) for _ in range(size)]
                outcomes = store.add_many(drafts)
                assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
            elapsed = time.perf_counter() - started
            per_message = elapsed / (MESSAGES // size * size) * 1e6
            print(f"  {size:3d} per transaction: {per_message:6.1f} µs per message")
        db.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
