"""Users for the benchmark: registered and logged in over HTTP as a browser does.

``register`` walks the real form (GET /auth/register, the hidden csrf_token,
POST username/password/confirm) and keeps the ``session`` cookie. Registration
hashes the password with scrypt (about 0.1 s of server CPU each), so the
idle-connection scenario's extra users are instead inserted into the database
with a cheap hash (``seed``) and then log in through the real login form
(``login``): every socket still carries a session cookie the app issued.

``python -m bench.accounts seed`` is the seeding step, run in a child process
because it builds the app against the benchmark's database.
"""

import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support import csrf_token

PASSWORD = "bench-password-1"
USER_AGENT = "chatroom-bench/1"  # the generator sends the same one on its sockets


def usernames(token, count, start=0):
    """``count`` distinct valid usernames, unique to this invocation (``token``)."""
    return [f"b{token}-{index:04d}" for index in range(start, start + count)]


def _submit(base_url, path, fields, expect_status=303):
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    page = session.get(base_url + path, timeout=30)
    response = session.post(
        base_url + path,
        data={**fields, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=60,
    )
    if response.status_code != expect_status or "session" not in session.cookies:
        raise RuntimeError(f"{path} for {fields.get('username')!r} answered {response.status_code}")
    return f"session={session.cookies['session']}"


def register(base_url, names, parallel=8):
    """Register each name through the form; return {name: "session=..."}."""
    fields = {"password": PASSWORD, "confirm": PASSWORD}

    def one(name):
        return _submit(base_url, "/auth/register", {"username": name, **fields})

    with ThreadPoolExecutor(parallel) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def login(base_url, names, parallel=8):
    """Log each (seeded) user in through the form; return {name: "session=..."}."""

    def one(name):
        return _submit(base_url, "/auth/login", {"username": name, "password": PASSWORD})

    with ThreadPoolExecutor(parallel) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def seed(database_url, names, secret_key):
    """Insert ``names`` as users with a cheap password hash, through the app's own model."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": secret_key, "CHAT_ENV": "production"}
    subprocess.run(
        [sys.executable, "-m", "bench.accounts", "seed"],
        input=json.dumps(names),
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )


def copy_sqlite(source_path, target_path):
    """A consistent copy of a SQLite database (WAL included), for a fresh server."""
    with sqlite3.connect(source_path) as source, sqlite3.connect(target_path) as target:
        source.backup(target)


def _seed_main():
    from sqlalchemy import insert
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.auth.models import User
    from app.auth.usernames import name_key
    from app.extensions import db

    names = json.load(sys.stdin)
    cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")
    rows = [{"username": name, "username_key": name_key(name), "password_hash": cheap} for name in names]
    with create_app().app_context():
        db.session.execute(insert(User), rows)
        db.session.commit()


if __name__ == "__main__" and sys.argv[1:] == ["seed"]:
    _seed_main()
