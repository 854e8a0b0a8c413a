"""Under eventlet, a greenlet resumed after the poll: before the timers its readers set, never twice."""

import json

from tests.support import run_python

# Three sockets become readable in one poll. Each reader wakes a writer (a greenlet due at
# once), and the first also waits for the end of the poll. Meanwhile a fourth socket gets
# a byte, which the next poll reads. Prints what ran, in order.
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
        afterpoll.after_poll()
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


def test_a_greenlet_waiting_for_the_end_of_the_poll_runs_after_its_readers_before_their_writers():
    result = run_python(_AFTER_THE_POLL)
    assert result.returncode == 0, result.stderr
    ran = [tuple(step) for step in json.loads(result.stdout)]
    assert sorted(ran[:3]) == [("read", "A"), ("read", "B"), ("read", "C")], ran
    assert ran[3] == ("after the poll",), ran
    assert sorted(ran[4:7]) == [("write", "A"), ("write", "B"), ("write", "C")], ran
    assert ran[7:] == [("read", "D"), ("write", "D")], ran


# A greenlet waits for the end of the first poll after 50 ms, with no socket to read and
# no timer due: the poll must not sleep past that. Another waits, is killed meanwhile, and
# must not be resumed again. Prints how long the first waited and what the second did.
_UNTIL_AND_KILLED = """
import eventlet
eventlet.monkey_patch()
import json, time
from app.chat import afterpoll

afterpoll.install()
events = []

def patient():
    start = time.monotonic()
    afterpoll.after_poll(start + 0.05)
    events.append(["waited", time.monotonic() - start])

def killed():
    try:
        afterpoll.after_poll(time.monotonic() + 0.02)
        events.append(["resumed"])
    except eventlet.greenlet.GreenletExit:
        events.append(["killed"])
        eventlet.sleep(0.1)  # asleep when its time after the poll comes
        events.append(["slept"])

first, second = eventlet.spawn(patient), eventlet.spawn(killed)
eventlet.sleep(0)
second.kill()
first.wait(), second.wait()
print(json.dumps(dict(events=events, left=len(afterpoll.install().waiting))))
"""


def test_the_poll_ends_in_time_for_a_waiting_greenlet_and_one_killed_meanwhile_is_not_resumed():
    result = run_python(_UNTIL_AND_KILLED)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    events = ran["events"]
    waited = next(seconds for name, *seconds in events if name == "waited")[0]
    assert 0.05 <= waited < 0.5, events  # the hub's default poll lasts 60 s
    assert [name for name, *_ in events if name != "waited"] == ["killed", "slept"], events
    assert ran["left"] == 0
