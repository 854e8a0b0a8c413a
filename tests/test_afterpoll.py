"""Under eventlet, a task started after the poll: after the readers it ran, before the timers they set."""

import json

from tests.support import run_python

# Three sockets become readable in one poll. Each reader wakes a writer (a greenlet due at
# once), and the first also asks for a task at the end of the poll. That task sends a
# fourth socket a byte, which the next poll reads. Prints what ran, in order.
_AFTER_THE_POLL = """
import eventlet
eventlet.monkey_patch()
import json, socket, time
from app.chat import afterpoll

afterpoll.install()
ran = []
pairs = {name: socket.socketpair() for name in "ABCD"}

def reader(name, sock):
    sock.recv(1)
    ran.append(["read", name])
    eventlet.spawn(ran.append, ["write", name])
    if name == "A":
        afterpoll.spawn_after_poll(0, after_the_poll)
        ran.append(["A reads on"])

def after_the_poll():
    ran.append(["after the poll"])
    pairs["D"][0].send(b"x")  # read in the next poll

readers = [eventlet.spawn(reader, name, pair[1]) for name, pair in pairs.items()]
eventlet.sleep(0.05)
for name in "ABC":
    pairs[name][0].send(b"x")
for greenlet in readers:
    greenlet.wait()
print(json.dumps(ran))
"""


def test_a_task_started_after_the_poll_runs_after_its_readers_before_their_writers():
    result = run_python(_AFTER_THE_POLL)
    assert result.returncode == 0, result.stderr
    ran = [tuple(step) for step in json.loads(result.stdout)]
    assert sorted(ran[:4]) == [("A reads on",), ("read", "A"), ("read", "B"), ("read", "C")], ran
    assert ran[4] == ("after the poll",), ran
    assert sorted(ran[5:8]) == [("write", "A"), ("write", "B"), ("write", "C")], ran
    assert ran[8:] == [("read", "D"), ("write", "D")], ran


# A task asked for at the end of the first poll after 50 ms, with no socket to read and no
# timer due: the poll must not sleep past that. Another task fails: it is logged, and the
# first still runs. Prints how long the first waited and what ran.
_UNTIL_AND_FAILING = """
import eventlet
eventlet.monkey_patch()
import json, logging, time
from eventlet.event import Event
from app.chat import afterpoll

logging.basicConfig(level=logging.ERROR)
afterpoll.install()
events, done = [], Event()
start = time.monotonic()

def patient():
    events.append(["waited", time.monotonic() - start])
    done.send()

def failing():
    events.append(["failing"])
    raise RuntimeError("a failing task")

afterpoll.spawn_after_poll(start + 0.01, failing)
afterpoll.spawn_after_poll(start + 0.05, patient)
done.wait()  # no timer set: only the tasks' times bound the hub's polls
print(json.dumps(dict(events=events, left=len(afterpoll.install().waiting))))
"""


def test_the_poll_ends_in_time_for_a_waiting_task_and_a_failing_task_is_logged():
    result = run_python(_UNTIL_AND_FAILING)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    events = ran["events"]
    assert [name for name, *_ in events] == ["failing", "waited"], events
    waited = events[1][1]
    assert 0.05 <= waited < 0.5, events
    assert ran["left"] == 0
    assert "a task started after the poll failed" in result.stderr
    assert "RuntimeError: a failing task" in result.stderr
