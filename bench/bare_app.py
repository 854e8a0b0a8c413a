"""A bare Flask-SocketIO app speaking Chatroom's /chat protocol: the floor of our own stack.

No accounts, no checks beyond the payload's shape, no storage, no rate limit, no
delivery lock. Users name themselves in the connection's auth data
``{"user": NAME}`` (or ``?user=NAME``). It sends what Chatroom sends: an empty
``history``, the same ``online``/``offline`` notices, and relays ``say`` with the
ack ``{"ok", "id", "at"}`` (to "all": every socket but the sender's; privately:
the recipient's sockets and the sender's other sockets). A private message to a
user who is not online gets ``no_such_user``.

    gunicorn -k eventlet -w 1 --worker-connections 10000 bench.bare_app:app
    gunicorn -k gthread -w 1 --threads 250 bench.bare_app:app
"""

import gc
import itertools
import os
import threading
from datetime import UTC, datetime

from flask import request
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room

from app.serving import (
    ChatFlask,
    ChatPacket,
    SocketEventSessions,
    WebsocketTuning,
    detect_async_mode,
    fast_eventlet_unmasking,
)

NAMESPACE = "/chat"
EVERYONE_ROOM = "everyone"


# The same serving choices as Chatroom (app/serving.py, create_app), so the floor is
# like for like: the async mode follows the worker, each socket's events run on its
# own reader (no thread or greenlet per event), no URL routing or session opening per
# event, eventlet unmasks frames in C, packets are encoded with less work, and
# permessage-deflate is declined (BENCH_BARE_DEFLATE=1 accepts it, to measure what
# compression costs).
app = ChatFlask(__name__)
app.session_interface = SocketEventSessions()
async_mode = detect_async_mode()
if async_mode == "eventlet":
    fast_eventlet_unmasking()
socketio = SocketIO(
    app, async_mode=async_mode, max_http_buffer_size=64 * 1024, async_handlers=False, serializer=ChatPacket
)
app.wsgi_app = WebsocketTuning(
    app.wsgi_app, compression=os.environ.get("BENCH_BARE_DEFLATE", "") not in ("", "0")
)

_ids = itertools.count(1)
_lock = threading.Lock()
_owner = {}  # sid -> name
_online = {}  # name key -> (name, set of sids)


def _iso():
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _room(name):
    return f"user:{name.casefold()}"


@app.get("/healthz")
def healthz():
    """The benchmark waits for this before it connects."""
    return {"status": "ok"}


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    """A client joins under the name it gives: empty history, then presence."""
    user = auth.get("user") if isinstance(auth, dict) else None
    user = user or request.args.get("user")
    if not isinstance(user, str) or not 0 < len(user) <= 32:
        raise ConnectionRefusedError("unauthorized")
    emit("history", {"messages": [], "more": False})
    join_room(_room(user))
    join_room(EVERYONE_ROOM)
    with _lock:
        name, sids = _online.setdefault(user.casefold(), (user, set()))
        first = not sids
        sids.add(request.sid)
        _owner[request.sid] = name
        count = len(_online)
        users = sorted((entry[0] for entry in _online.values()), key=str.casefold)
    notice = {"user": name, "at": _iso(), "count": count}
    if first:
        emit("online", notice, broadcast=True, include_self=False)
    emit("online", {**notice, "users": users})


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason=None):
    """Everyone hears ``offline`` when a user's last socket closes."""
    with _lock:
        name = _owner.pop(request.sid, None)
        if name is None:
            return
        sids = _online[name.casefold()][1]
        sids.discard(request.sid)
        last = not sids
        if last:
            del _online[name.casefold()]
        count = len(_online)
    if last:
        emit("offline", {"user": name, "at": _iso(), "count": count}, broadcast=True)


@socketio.on("say", namespace=NAMESPACE)
def on_say(payload=None, *_ignored):
    """Relay a message to everyone but this socket, or to both people's rooms but it. Acks."""
    if not isinstance(payload, dict) or not isinstance(payload.get("to"), str):
        return {"ok": False, "error": "bad_request", "message": "'to' must be a string."}
    text = payload.get("msg")
    if not isinstance(text, str) or not text.strip():
        return {"ok": False, "error": "empty", "message": "The message is empty."}
    sender = _owner.get(request.sid)
    message = {"id": next(_ids), "from": sender, "to": "all", "msg": text.strip(), "at": _iso()}
    target = payload["to"]
    if target.casefold() == "all":
        emit("say", message, to=EVERYONE_ROOM, include_self=False)
    else:
        entry = _online.get(target.casefold())
        if entry is None:
            return {"ok": False, "error": "no_such_user", "message": "Nobody of that name is online."}
        message["to"] = entry[0]
        emit("say", message, to=[_room(entry[0]), _room(sender)], include_self=False)
    return {"ok": True, "id": message["id"], "at": message["at"]}


# As in wsgi.py: start-up objects out of the garbage collector's reach (like for like).
gc.collect()
gc.freeze()
