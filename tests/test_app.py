"""The factory: configuration, async mode, schema, health check, static client, headers."""

import pytest
from sqlalchemy import inspect

from app import create_app
from app.chat.ratelimit import parse_rate
from app.extensions import db, socketio
from app.serving import detect_async_mode
from tests.support import run_python


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = run_python(
        "from app import create_app; create_app()",
        CHAT_ENV="production",
        SECRET_KEY="",
        DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3",
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_development_makes_a_private_key_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAT_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr("config.Config.SECRET_KEY", None)
    monkeypatch.setattr("config.Config.SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setattr("flask.Flask.auto_find_instance_path", lambda self: str(tmp_path / "instance"))
    first = create_app().config["SECRET_KEY"]
    second = create_app().config["SECRET_KEY"]
    assert len(first) >= 64
    assert first == second
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_async_mode_follows_the_serving_environment():
    assert detect_async_mode() == "threading"
    assert detect_async_mode("gevent") == "gevent"
    patched = run_python(
        "import eventlet; eventlet.monkey_patch(); "
        "from app.serving import detect_async_mode; print(detect_async_mode())"
    )
    assert patched.stdout.strip() == "eventlet", patched.stderr
    merely_imported = run_python(
        "import eventlet; from app.serving import detect_async_mode; print(detect_async_mode())"
    )
    assert merely_imported.stdout.strip() == "threading", merely_imported.stderr


def test_schema_is_created_by_the_migrations(app):
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"users", "messages", "alembic_version"} <= tables


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    with app.app_context():
        connection = db.session.connection()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_does_not(tmp_path):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.sqlite3", "CHAT_AUTO_MIGRATE": False}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


def test_socketio_client_is_served_from_the_app(client):
    with client.get("/vendor/socket.io.min.js") as response:
        assert response.status_code == 200
        body = response.get_data(as_text=True)
    assert "Socket.IO v4.8." in body  # protocol 5, matching python-socketio 5


def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get("/auth/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(("spec", "limit"), [("20/10", (20, 10)), ("5/1", (5, 1)), ("0", None)])
def test_rate_limit_setting(spec, limit):
    item = parse_rate(spec)
    assert (None if item is None else (item.amount, item.get_expiry())) == limit


@pytest.mark.parametrize("spec", ["20", "a/b", "20/0", "-1/10", "20/10/3"])
def test_bad_rate_limit_setting_stops_the_app(spec, tmp_path):
    with pytest.raises(ValueError, match="CHAT_RATE_LIMIT"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3", "CHAT_RATE_LIMIT": spec})


def test_rate_limit_zero_turns_it_off(tmp_path, browser):
    from app.extensions import socketio
    from tests.conftest import AuthActions

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/y.sqlite3", "CHAT_RATE_LIMIT": "0"})
    client = app.test_client()
    AuthActions(client).register("alice")
    sock = socketio.test_client(app, namespace="/chat", flask_test_client=client)
    acks = [sock.emit("say", {"to": "all", "msg": "x"}, namespace="/chat", callback=True) for _ in range(30)]
    assert all(ack["ok"] for ack in acks)
    sock.disconnect(namespace="/chat")


def test_max_message_length_is_configurable(tmp_path):
    from app.extensions import socketio
    from tests.conftest import AuthActions

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/z.sqlite3", "CHAT_MAX_MESSAGE_LENGTH": 5}
    )
    client = app.test_client()
    AuthActions(client).register("alice")
    sock = socketio.test_client(app, namespace="/chat", flask_test_client=client)
    assert sock.emit("say", {"to": "all", "msg": "12345"}, namespace="/chat", callback=True)["ok"]
    assert (
        sock.emit("say", {"to": "all", "msg": "123456"}, namespace="/chat", callback=True)["error"]
        == "too_long"
    )
    sock.disconnect(namespace="/chat")


def test_each_redis_database_gets_its_own_pubsub_channel():
    from app.chat.scaleout import channel_for

    # Redis pub/sub ignores database numbers: deployments on /1 and /2 must not hear each other.
    assert channel_for("redis://127.0.0.1:6379/1") != channel_for("redis://127.0.0.1:6379/2")
    assert channel_for("redis://127.0.0.1:6379") == channel_for("redis://127.0.0.1:6379/0")


def test_bench_switch_delivers_without_storing(tmp_path):
    from app.chat.models import Message
    from tests.conftest import AuthActions

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/b.sqlite3", "CHAT_BENCH_NO_STORE": True}
    )
    client = app.test_client()
    AuthActions(client).register("alice")
    sock = socketio.test_client(app, namespace="/chat", flask_test_client=client)
    assert sock.emit("say", {"to": "all", "msg": "x"}, namespace="/chat", callback=True)["id"] == 1
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 0
    sock.disconnect(namespace="/chat")


GARBAGE_PROBE = """
import gc, sys
from app import create_app
from app.extensions import socketio
from tests.conftest import AuthActions
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "CHAT_ASYNC_MODE": "threading"})
socks = []
for name in ("alice", "bob"):
    http = app.test_client()
    AuthActions(http).register(name)
    socks.append(socketio.test_client(app, namespace="/chat", flask_test_client=http))
alice, bob = socks
say = lambda text: alice.emit("say", {"to": "bob", "msg": text}, namespace="/chat", callback=True)
acks = [say("warm up")]
gc.collect()
gc.set_debug(gc.DEBUG_SAVEALL)
acks += [say(f"hi {n}") for n in range(15)]  # within the rate limit (20 per 10 s)
bob.get_received("/chat")
gc.collect()
print(all(ack["ok"] for ack in acks), len(gc.garbage), sorted({type(t).__qualname__ for t in gc.garbage}))
"""


def test_socket_events_leave_no_garbage_cycles(tmp_path):
    """Chatting creates no reference cycles: they would pile up for long full collections.

    In a fresh interpreter, so that nothing else running in the test process can drop garbage.
    """
    result = run_python(GARBAGE_PROBE.replace("sys.argv[1]", repr(f"sqlite:///{tmp_path}/chat.sqlite3")))
    assert result.returncode == 0, result.stderr
    acked, garbage, kinds = result.stdout.strip().split(" ", 2)
    assert acked == "True"
    assert (int(garbage), kinds) == (0, "[]")


def test_eventlet_unmasks_frames_as_before_only_faster():
    """The C unmasking under eventlet gives eventlet's own bytes, for every length and offset it uses."""
    result = run_python(
        "import os; import eventlet.websocket as ws; from app import serving\n"
        "original = ws.RFC6455WebSocket._apply_mask\n"
        "serving.fast_eventlet_unmasking()\n"
        "assert ws.RFC6455WebSocket._apply_mask is not original\n"
        "ours = ws.RFC6455WebSocket._apply_mask\n"
        "for size in (0, 1, 3, 4, 5, 125, 126, 1000, 65536):\n"
        "    data = os.urandom(size)\n"
        "    for mask in ((0, 0, 0, 0), (1, 2, 3, 255), tuple(os.urandom(4))):\n"
        "        for offset in range(9):\n"
        "            for length in {size, size // 2}:\n"
        "                expected = original(data, mask, length=length, offset=offset)\n"
        "                assert ours(data, mask, length=length, offset=offset) == expected\n"
        "        assert ours(data, list(mask)) == original(data, list(mask))\n"
        "print('same')"
    )
    assert result.stdout.strip() == "same", result.stderr


def test_eventlet_apps_unmask_in_c():
    result = run_python(
        "import eventlet; eventlet.monkey_patch()\n"
        "import eventlet.websocket as ws; original = ws.RFC6455WebSocket._apply_mask\n"
        "from app import create_app; create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "print(ws.RFC6455WebSocket._apply_mask is not original)"
    )
    assert result.stdout.strip() == "True", result.stderr
