"""What waking a group-commit follower costs under eventlet, by the kind of event it waits on.

    .venv/bin/python -m bench.wake_costs

Each round spawns 100 greenlets that each make an event and wait on it, then
sets the events, as ``GroupCommit`` does for the messages that join a batch.
Prints microseconds per waiter: with python-engineio's ``create_event`` (the
standard library's ``threading.Event`` over eventlet's green locks), with
eventlet's own ``Event`` (what ``app.chat.service._event_for`` gives under
eventlet), and with no event at all (the spawn and switch alone).
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # as pyproject.toml

import eventlet  # noqa: E402

eventlet.monkey_patch()

import time  # noqa: E402

import socketio  # noqa: E402

from app.chat.service import _event_for  # noqa: E402

WAITERS = 20_000
ROUND = 100


def per_waiter(make, wait, wake):
    """Microseconds per waiter for one kind of event."""
    events = []

    def follower():
        event = make()
        events.append(event)
        wait(event)

    started = time.perf_counter()
    for _ in range(WAITERS // ROUND):
        greenlets = [eventlet.spawn(follower) for _ in range(ROUND)]
        eventlet.sleep(0)
        for event in events:
            wake(event)
        events.clear()
        for greenlet in greenlets:
            greenlet.wait()
    return (time.perf_counter() - started) / WAITERS * 1e6


def main():
    server = socketio.Server(async_mode="eventlet")
    kinds = {
        "engineio create_event (green threading.Event)": server.eio.create_event,
        "eventlet Event (app.chat.service._event_for)": _event_for(server),
    }
    for round_number in range(3):
        figures = [
            f"{name}: {per_waiter(make, lambda e: e.wait(), lambda e: e.set()):.1f}"
            for name, make in kinds.items()
        ]
        figures.append(f"no event: {per_waiter(lambda: None, lambda e: None, lambda e: None):.1f}")
        print(f"round {round_number + 1}, µs per waiter: " + "; ".join(figures), flush=True)


if __name__ == "__main__":
    main()
