"""What one private message costs the server above engine.io: Chatroom against the bare app, in-process.

    .venv/bin/python -m bench.event_costs                    # 3 rounds of 20,000 messages each
    .venv/bin/python -m bench.event_costs --messages 50000 --rounds 5

No sockets, no event loop, no load generator: one user's ``say`` packets, each
a private message to a second user with a fresh ``cid``, are handed straight
to python-socketio's ``_handle_eio_message``, as engine.io hands it each frame
it reads, and what the server sends back (the ack to the sender, the delivery
to the recipient) is encoded and counted instead of being queued for a
socket. The websocket, the frames and the wake-ups are the same for every
variant, so they are left out; what remains is Flask-SocketIO's request
context, the handler and what it calls. Variants, each in a fresh
interpreter, round after round:

- ``bare``: ``bench/bare_app.py``, the benchmark's floor;
- ``nostore``: Chatroom with ``CHAT_BENCH_NO_STORE=1``: accounts, checks,
  presence, the group commit, no database write;
- ``sqlite``: Chatroom on a fresh SQLite file, one transaction per message
  (no window: nothing else arrives to share it). What a transaction shared
  by several messages costs each is ``bench.store_batches``' figure.

The threading async mode, the rate limit off (``CHAT_RATE_LIMIT=0``) and
``CHAT_COMMIT_WINDOW_MS=0``. Prints the process's CPU time per message. A
variant that did not send exactly one ack and one delivery per message, or
sent an error ack, stops the run: its figure would not be a message's cost.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = ("bare", "nostore", "sqlite")
WARM_UP = 2000  # messages before the clock starts: caches, the first transaction, the checkpoint thread
PASSWORD = "correct horse battery"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages timed per variant and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant (default 3)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one run, in a child
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(measure(args.variant, args.messages)))
        return
    figures = {variant: [] for variant in VARIANTS}
    for number in range(1, args.rounds + 1):
        for variant in VARIANTS:
            result = _child(variant, args.messages)
            figures[variant].append(result["cpu_us"])
        line = ", ".join(f"{variant} {figures[variant][-1]:.1f}" for variant in VARIANTS)
        print(f"round {number}, CPU µs per private message: {line}", flush=True)
    medians = {variant: statistics.median(values) for variant, values in figures.items()}
    bare = medians["bare"]
    print(
        "median: "
        + ", ".join(
            f"{variant} {value:.1f} µs ({value - bare:+.1f} against bare)"
            for variant, value in medians.items()
        )
    )


def _child(variant, messages):
    """Run one variant in a fresh interpreter; its figures, or exit with its error."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.event_costs", "--variant", variant, "--messages", str(messages)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{variant} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(variant, messages):
    """CPU microseconds per private ``say`` for one variant, with what it sent back."""
    server, sender, recipient = _connect(variant)
    counts = _count_outgoing(server, sender, recipient)
    packets = [_say(number) for number in range(WARM_UP + messages)]
    for packet in packets[:WARM_UP]:
        server._handle_eio_message(sender, packet)
    _check(counts, WARM_UP)
    started = time.process_time()
    for packet in packets[WARM_UP:]:
        server._handle_eio_message(sender, packet)
    cpu = time.process_time() - started
    _check(counts, WARM_UP + messages)
    return {"variant": variant, "messages": messages, "cpu_us": round(cpu / messages * 1e6, 2), **counts}


def _say(number):
    """Socket.IO packet ``number``: a private ``say`` to bob asking for an ack, as the page sends it."""
    payload = {"to": "bob", "msg": f"message {number:056d}", "cid": f"{number:032x}"}
    return f"2/chat,{number}" + json.dumps(["say", payload], separators=(",", ":"))


def _connect(variant):
    """The variant's python-socketio server and the engine.io ids of alice's and bob's sockets."""
    if variant == "bare":
        from bench.bare_app import app, socketio

        sockets = [
            socketio.test_client(app, namespace="/chat", auth={"user": name}) for name in ("alice", "bob")
        ]
    else:
        from app import create_app
        from app.extensions import socketio
        from tests.support import csrf_token

        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tempfile.mkdtemp(prefix='event-costs-')}/chat.sqlite3",
                "SECRET_KEY": "bench",
                "CHAT_ASYNC_MODE": "threading",
                "CHAT_RATE_LIMIT": "0",
                "CHAT_COMMIT_WINDOW_MS": 0,
                "CHAT_OFFLINE_GRACE": 0,
                "CHAT_BENCH_NO_STORE": variant == "nostore",
            }
        )
        sockets = []
        for name in ("alice", "bob"):
            browser = app.test_client()
            form = browser.get("/auth/register").get_data(as_text=True)
            fields = {
                "username": name,
                "password": PASSWORD,
                "confirm": PASSWORD,
                "csrf_token": csrf_token(form),
            }
            if browser.post("/auth/register", data=fields).status_code != 303:
                sys.exit(f"could not register {name}")
            sockets.append(socketio.test_client(app, namespace="/chat", flask_test_client=browser))
    if not all(sock.is_connected("/chat") for sock in sockets):
        sys.exit("a socket was refused")
    return socketio.server, sockets[0].eio_sid, sockets[1].eio_sid


def _count_outgoing(server, sender, recipient):
    """Replace the test client's capture with engine.io's packet and its encoding, counted."""
    from engineio import packet as eio_packet

    # The test clients' own capture (instance attributes) goes; the server's methods come back.
    for name in ("_send_packet", "_send_eio_packet"):
        server.__dict__.pop(name, None)
    counts = {"acks": 0, "errors": 0, "deliveries": 0, "other": 0}

    def send_packet(eio_sid, pkt):
        data = pkt.encode()
        if eio_sid == sender and data.startswith("43/chat,"):
            counts["acks"] += 1
            counts["errors"] += '"ok":false' in data
        elif eio_sid == recipient and data.startswith('42/chat,["say"'):
            counts["deliveries"] += 1
        else:
            counts["other"] += 1

    server.eio.send_packet = send_packet
    server.eio.send = lambda eio_sid, data: send_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, data))
    return counts


def _check(counts, messages):
    if counts != {"acks": messages, "errors": 0, "deliveries": messages, "other": 0}:
        sys.exit(f"after {messages} messages the server sent {counts}, not one ack and one delivery each")


if __name__ == "__main__":
    main()
