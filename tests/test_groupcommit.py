"""Group commit: what arrives together is processed together, and each sender hears its own outcome."""

import json
import threading
import time

import pytest

from app.chat.groupcommit import PROBE_EVERY, GroupCommit
from app.chat.presence import OnlineUser
from app.chat.service import _gathers_for, _pause_for
from app.chat.store import Draft, MessageStore, UnstoredMessages
from tests.support import run_python

WAIT = 5


class Recorder:
    """A ``process`` that records its batches; the first one waits until ``release`` is set."""

    def __init__(self, fail_on=None):
        self.batches = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, items):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.batches.append(list(items))
            first = len(self.batches) == 1
        try:
            if first:
                self.started.set()
                assert self.release.wait(WAIT)
            if self.fail_on in items:
                raise RuntimeError(f"cannot store {self.fail_on}")
            return [f"stored {item}" for item in items]
        finally:
            with self._lock:
                self.running -= 1


def submit_all(group, items):
    """Submit each item from its own thread; return {item: outcome or exception}."""
    outcomes = {}

    def submit(item):
        try:
            outcomes[item] = group.submit(item)
        except Exception as error:  # the test inspects it
            outcomes[item] = error

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, outcomes


def wait_until_queued(group, count):
    deadline = time.monotonic() + WAIT
    while len(group._queue) < count:
        assert time.monotonic() < deadline, f"{len(group._queue)} of {count} submissions queued"
        time.sleep(0.005)


def held_first_batch(recorder, later_items):
    """One item in a batch that is held open, then ``later_items`` submitted meanwhile."""
    group = GroupCommit(recorder, threading.Lock(), pause=lambda _waited: None)
    first_threads, first = submit_all(group, ["first"])
    assert recorder.started.wait(WAIT)
    threads, outcomes = submit_all(group, later_items)
    wait_until_queued(group, len(later_items))
    recorder.release.set()
    for thread in first_threads + threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    return group, {**first, **outcomes}


def test_what_arrives_during_a_batch_is_one_batch_and_each_gets_its_own_outcome():
    recorder = Recorder()
    later = [f"message {n}" for n in range(19)]
    _group, outcomes = held_first_batch(recorder, later)
    assert outcomes == {item: f"stored {item}" for item in ["first", *later]}
    assert len(recorder.batches) == 2
    assert recorder.batches[0] == ["first"]
    assert sorted(recorder.batches[1]) == sorted(later)
    assert recorder.most_at_once == 1, "two batches were processed at once"


class CountedEvent(threading.Event):
    """A ``threading.Event`` that counts how many were made and set."""

    made = 0
    sets = 0

    def __init__(self):
        super().__init__()
        CountedEvent.made += 1

    def set(self):
        CountedEvent.sets += 1
        super().set()


def test_the_followers_of_a_batch_share_one_event_and_the_next_leader_has_its_own(monkeypatch):
    """Nineteen messages arrive during a batch: two events, each set once, not one per message."""
    monkeypatch.setattr(CountedEvent, "made", 0)
    monkeypatch.setattr(CountedEvent, "sets", 0)
    recorder = Recorder()
    group = GroupCommit(recorder, threading.Lock(), pause=lambda _waited: None, event=CountedEvent)
    first_threads, _first = submit_all(group, ["first"])
    assert recorder.started.wait(WAIT)
    later = [f"message {n}" for n in range(19)]
    threads, outcomes = submit_all(group, later)
    wait_until_queued(group, len(later))
    recorder.release.set()
    for thread in first_threads + threads:
        thread.join(WAIT)
    assert outcomes == {item: f"stored {item}" for item in later}
    assert len(recorder.batches) == 2
    assert (CountedEvent.made, CountedEvent.sets) == (2, 2)


def test_a_failed_batch_fails_its_senders_only_and_the_next_batch_runs():
    recorder = Recorder(fail_on="bad")
    group, outcomes = held_first_batch(recorder, ["bad", "unlucky"])
    assert outcomes["first"] == "stored first"
    for item in ("bad", "unlucky"):
        assert isinstance(outcomes[item], RuntimeError), outcomes[item]
    assert group.submit("after") == "stored after"
    assert recorder.batches[-1] == ["after"]


def test_the_pause_hears_how_long_its_leader_has_waited():
    """A message handed in during a batch leads the next having waited out the first: the pause hears it."""
    recorder = Recorder()
    waited, companions = [], []

    def pause(seconds):
        waited.append(seconds)
        if len(waited) == 1:  # the first pause gathers a companion, so the next batch pauses too
            threads, _outcomes = submit_all(group, ["companion"])
            companions.extend(threads)
            wait_until_queued(group, 2)

    group = GroupCommit(recorder, threading.Lock(), pause=pause)
    first_threads, _first = submit_all(group, ["first"])
    assert recorder.started.wait(WAIT)
    threads, outcomes = submit_all(group, ["second"])
    wait_until_queued(group, 1)
    time.sleep(0.2)  # the first batch holds on
    recorder.release.set()
    for thread in first_threads + companions + threads:
        thread.join(WAIT)
    assert outcomes == {"second": "stored second"}
    assert recorder.batches == [["first", "companion"], ["second"]]
    assert len(waited) == 2
    assert waited[0] < 0.1, "the first leader had just arrived"
    assert waited[1] >= 0.2, "the second waited out the first batch"


class SleepRecorder:
    """A stand-in for the python-socketio server's ``sleep``: records what is asked of it."""

    async_mode = "threading"

    def __init__(self):
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)


@pytest.mark.parametrize(("waited", "slept"), [(0, [0.01]), (0.004, [0.006]), (0.01, []), (0.5, [])])
def test_the_window_is_counted_from_when_the_message_was_handed_in(waited, slept):
    """The leader sleeps what is left of the window: a message that waited out a batch does not wait more."""
    server = SleepRecorder()
    _pause_for(server, 0.01)(waited)
    assert server.slept == pytest.approx(slept)


def test_a_lone_message_is_a_batch_of_one():
    recorder = Recorder()
    recorder.release.set()
    group = GroupCommit(recorder, threading.Lock(), pause=lambda _waited: None)
    assert [group.submit(n) for n in range(3)] == ["stored 0", "stored 1", "stored 2"]
    assert recorder.batches == [[0], [1], [2]]


def test_after_a_pause_that_gathers_nothing_only_every_eighth_batch_pauses():
    """A lone sender's messages: one pause finds nobody, then 1 batch in PROBE_EVERY pauses to look again."""
    recorder = Recorder()
    recorder.release.set()
    paused_before = []
    group = GroupCommit(
        recorder, threading.Lock(), pause=lambda _waited: paused_before.append(len(recorder.batches))
    )
    for n in range(20):
        group.submit(n)
    assert recorder.batches == [[n] for n in range(20)]
    # Numbered from 0: batch 0 pauses (nothing known yet), then batches 8 and 16.
    assert paused_before == [0, PROBE_EVERY, 2 * PROBE_EVERY]


def test_while_pauses_gather_every_batch_pauses():
    """Each pause finds another sender's message waiting: the next batch pauses too."""
    recorder = Recorder()
    recorder.release.set()
    group = None
    pauses = []

    def pause(_waited):
        # Another sender's message arrives while the leader pauses.
        pauses.append(len(recorder.batches))
        threads, _outcomes = submit_all(group, [f"other {len(pauses)}"])
        wait_until_queued(group, 2)
        others.extend(threads)

    others = []
    group = GroupCommit(recorder, threading.Lock(), pause=pause)
    for n in range(3):
        group.submit(n)
    for thread in others:
        thread.join(WAIT)
    assert pauses == [0, 1, 2]
    assert recorder.batches == [[0, "other 1"], [1, "other 2"], [2, "other 3"]]


def test_an_item_that_gathering_cannot_pay_for_never_pauses():
    recorder = Recorder()
    recorder.release.set()
    pauses = []
    group = GroupCommit(
        recorder,
        threading.Lock(),
        pause=lambda _waited: pauses.append(1),
        gathers=lambda item: item != "public",
    )
    for item in ["public"] * 10:
        group.submit(item)
    group.submit("private")
    assert pauses == [1]


def test_on_sqlite_only_private_messages_gather():
    """Public messages never pause (their deliveries dwarf a commit); nor the benchmark's no-store switch."""
    sender, recipient = OnlineUser(1, "ann"), OnlineUser(2, "bob")
    private = (Draft(sender, recipient, "hi"), "sid")
    public = (Draft(sender, None, "hi all"), "sid")

    gathers = _gathers_for(MessageStore())
    assert gathers(private)
    assert not gathers(public)
    assert not _gathers_for(UnstoredMessages())(private)


def test_on_a_database_server_every_message_gathers():
    """Each transaction waits for the server, the writers running meanwhile anyway: public ones gather too."""
    sender, recipient = OnlineUser(1, "ann"), OnlineUser(2, "bob")
    gathers = _gathers_for(MessageStore(remote=True))
    assert gathers((Draft(sender, recipient, "hi"), "sid"))
    assert gathers((Draft(sender, None, "hi all"), "sid"))


def test_the_lock_is_held_while_a_batch_is_processed():
    lock = threading.Lock()
    held = []
    group = GroupCommit(
        lambda items: [held.append(lock.locked()) for _ in items], lock, pause=lambda _waited: None
    )
    group.submit("x")
    assert held == [True]
    assert not lock.locked()


def test_a_failing_lock_fails_the_waiting_senders_and_frees_the_next():
    class BrokenLock:
        broken = True

        def __enter__(self):
            if self.broken:
                raise ConnectionError("lock service away")

        def __exit__(self, *exc_info):
            return False

    lock = BrokenLock()
    group = GroupCommit(lambda items: list(items), lock, pause=lambda _waited: None)
    with pytest.raises(ConnectionError):
        group.submit("x")
    lock.broken = False
    assert group.submit("y") == "y"


# Three sockets become readable in the same poll of eventlet's hub. Each reader, like a
# handler that has just delivered a message, wakes a writer (a greenlet due at once),
# then submits. Prints the batches and the writes, in the order they ran.
_EVENTLET_SOCKETS_READ_TOGETHER = """
import eventlet
eventlet.monkey_patch()
import json, socket, threading
import socketio
from app.chat.groupcommit import GroupCommit

from tests.support import run_python
from app.chat.service import _event_for, _pause_for

server = socketio.Server(async_mode="eventlet")
ran = []

def process(items):
    ran.append(["batch", *sorted(items)])
    return items

group = GroupCommit(process, threading.Lock(), _pause_for(server), event=_event_for(server))
pairs = [socket.socketpair() for _ in range(3)]

def reader(name, sock):
    sock.recv(1)
    eventlet.spawn(ran.append, ["write", name])
    group.submit(name)

readers = [eventlet.spawn(reader, name, pair[1]) for name, pair in zip("ABC", pairs)]
eventlet.sleep(0.05)
for pair in pairs:
    pair[0].send(b"x")
for greenlet in readers:
    greenlet.wait()
eventlet.sleep(0.05)
print(json.dumps(ran))
"""


def test_under_eventlet_the_sockets_read_together_are_one_batch_stored_before_earlier_writes():
    """The leader's pause lets the sockets read in the same poll join its batch.

    It resumes ahead of the writers woken before it (under fan-out, hundreds of
    deliveries), so their turn does not delay its message: with ``sleep(0)``
    the first write ran before the batch, and without a pause each message was
    a batch of its own.
    """
    result = run_python(_EVENTLET_SOCKETS_READ_TOGETHER)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran[0] == ["batch", "A", "B", "C"], ran
    assert sorted(map(tuple, ran[1:])) == [("write", "A"), ("write", "B"), ("write", "C")], ran


# Under eventlet: a leader whose batch takes a while (as a PostgreSQL round trip yields),
# three more messages meanwhile; the first of them leads the next batch, woken by an event
# of its own, the other two by their batch's. Prints batches, outcomes, the event's type.
_EVENTLET_HANDOVER = """
import eventlet
eventlet.monkey_patch()
import json, threading
import socketio
from app.chat.groupcommit import GroupCommit
from app.chat.service import _event_for, _pause_for

server = socketio.Server(async_mode="eventlet")
batches, outcomes = [], {}

def process(items):
    batches.append(sorted(items))
    eventlet.sleep(0.02)
    return [f"stored {item}" for item in items]

group = GroupCommit(process, threading.Lock(), _pause_for(server), event=_event_for(server))

def send(item):
    outcomes[item] = group.submit(item)

first = eventlet.spawn(send, "a")
eventlet.sleep(0.005)
later = [eventlet.spawn(send, item) for item in "bcd"]
for greenlet in [first, *later]:
    greenlet.wait()
event = _event_for(server)()
print(json.dumps({"batches": batches, "outcomes": outcomes, "event": type(event).__mro__[1].__module__}))
"""


def test_under_eventlet_followers_wait_on_eventlets_own_event_and_a_successor_leads():
    """Followers wait on eventlet's ``Event`` (a switch, not a Condition over green locks).

    The message that arrived first during a batch leads the next one, and every
    sender hears its own outcome.
    """
    result = run_python(_EVENTLET_HANDOVER)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["batches"] == [["a"], ["b", "c", "d"]], ran
    assert ran["outcomes"] == {item: f"stored {item}" for item in "abcd"}, ran
    assert ran["event"] == "eventlet.event", ran


# Under eventlet, with a commit window of 50 ms or none: a message handed in 10 ms after
# the leader's (from a socket read in a later poll). Prints the batches.
_EVENTLET_WINDOW = """
import eventlet
eventlet.monkey_patch()
import json, os, threading
import socketio
from app.chat.groupcommit import GroupCommit
from app.chat.service import _event_for, _pause_for

server = socketio.Server(async_mode="eventlet")
batches = []

def process(items):
    batches.append(sorted(items))
    return items

pause = _pause_for(server, float(os.environ["WINDOW"]))
group = GroupCommit(process, threading.Lock(), pause, event=_event_for(server))
first = eventlet.spawn(group.submit, "a")
eventlet.sleep(0.01)
later = eventlet.spawn(group.submit, "b")
first.wait(), later.wait()
print(json.dumps(batches))
"""


@pytest.mark.parametrize(("window", "batches"), [(0.05, [["a", "b"]]), (0, [["a"], ["b"]])])
def test_under_eventlet_a_message_within_the_commit_window_joins_the_batch(window, batches):
    """The window gathers what arrives while it lasts; without one, only what was read at once."""
    result = run_python(_EVENTLET_WINDOW, WINDOW=str(window))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == batches
