"""Group commit: what arrives together is processed together, and each sender hears its own outcome."""

import json
import queue
import threading
import time

import pytest

from app.chat.groupcommit import CHAIN, PENDING, PROBE_EVERY, GroupCommit
from app.chat.presence import OnlineUser
from app.chat.service import _pause_for, _window_for
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


def outcome_of(group, item):
    """Submit ``item`` as a socket's handler does; its outcome or exception, led or heard ``later``."""
    heard = queue.Queue()
    try:
        outcome = group.submit(item, heard.put)
    except Exception as error:  # the test inspects it
        return error
    return heard.get(timeout=WAIT) if outcome is PENDING else outcome


def submit_all(group, items):
    """Submit each item from its own thread; return {item: outcome or exception}."""
    outcomes = {}

    def submit(item):
        outcomes[item] = outcome_of(group, item)

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, outcomes


def wait_until_queued(group, count):
    deadline = time.monotonic() + WAIT
    while len(group._queue) < count:
        assert time.monotonic() < deadline, f"{len(group._queue)} of {count} submissions queued"
        time.sleep(0.005)


def batch_in_progress(recorder):
    """A group commit without pauses whose first batch, ``first``, is held open by ``recorder``."""
    group = GroupCommit(recorder, threading.Lock(), pause=lambda _waited, _window: None)
    first_threads, first = submit_all(group, ["first"])
    assert recorder.started.wait(WAIT)
    return group, first_threads, first


def held_first_batch(recorder, later_items):
    """One item in a batch that is held open, then ``later_items`` submitted meanwhile."""
    group, first_threads, first = batch_in_progress(recorder)
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


def test_a_failed_batch_fails_its_senders_only_and_the_next_batch_runs():
    recorder = Recorder(fail_on="bad")
    group, outcomes = held_first_batch(recorder, ["bad", "unlucky"])
    assert outcomes["first"] == "stored first"
    for item in ("bad", "unlucky"):
        assert isinstance(outcomes[item], RuntimeError), outcomes[item]
    assert outcome_of(group, "after") == "stored after"
    assert recorder.batches[-1] == ["after"]


class Replies:
    """The ``later`` callbacks of submitters that do not wait: what each heard, and on which thread."""

    def __init__(self):
        self.heard = {}
        self.threads = set()
        self.all_heard = threading.Event()
        self.expected = 0

    def later(self, item):
        def hear(outcome):
            self.heard[item] = outcome
            self.threads.add(threading.current_thread().name)
            if len(self.heard) == self.expected:
                self.all_heard.set()

        self.expected += 1
        return hear


def test_a_submitter_that_does_not_wait_is_answered_when_its_batch_is_done():
    """Items given ``later`` during a batch: ``submit`` returns at once; a new task leads their batch."""
    recorder = Recorder()
    spawned = []

    def spawn(function, *args):
        spawned.append(function)
        threading.Thread(target=function, args=args, name="spawned leader").start()

    group = GroupCommit(recorder, threading.Lock(), pause=lambda _waited, _window: None, spawn=spawn)
    first_threads, first = submit_all(group, ["first"])
    assert recorder.started.wait(WAIT)
    replies = Replies()
    later = [f"message {n}" for n in range(5)]
    returned = [group.submit(item, replies.later(item)) for item in later]  # on this thread: none waits
    assert returned == [PENDING] * 5
    assert replies.heard == {} and spawned == [], "answered before its batch was stored"
    recorder.release.set()
    assert replies.all_heard.wait(WAIT)
    first_threads[0].join(WAIT)
    assert first == {"first": "stored first"}
    assert replies.heard == {item: f"stored {item}" for item in later}
    assert recorder.batches == [["first"], later], "the queued items, in the order they came, as one batch"
    assert len(spawned) == 1 and replies.threads == {"spawned leader"}
    assert group.submit("alone", replies.later("alone")) == "stored alone", "nobody at work: it leads itself"


def test_a_submitter_that_does_not_wait_hears_the_failure_of_its_batch():
    recorder = Recorder(fail_on="bad")
    group, first_threads, _first = batch_in_progress(recorder)
    replies = Replies()
    assert group.submit("bad", replies.later("bad")) is PENDING
    assert group.submit("unlucky", replies.later("unlucky")) is PENDING
    recorder.release.set()
    assert replies.all_heard.wait(WAIT)
    first_threads[0].join(WAIT)
    assert all(isinstance(replies.heard[item], RuntimeError) for item in ("bad", "unlucky")), replies.heard
    assert outcome_of(group, "after") == "stored after", "the next batch runs"


def test_what_arrives_after_the_next_leader_joins_its_batch():
    """The first arrival during a batch leads the next; a later one joins it."""
    recorder = Recorder()
    group, first_threads, _first = batch_in_progress(recorder)
    replies = Replies()
    assert group.submit("quick", replies.later("quick")) is PENDING
    threads, outcomes = submit_all(group, ["patient"])
    wait_until_queued(group, 2)
    recorder.release.set()
    for thread in first_threads + threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert replies.all_heard.wait(WAIT)
    assert (replies.heard, outcomes) == ({"quick": "stored quick"}, {"patient": "stored patient"})
    assert recorder.batches == [["first"], ["quick", "patient"]]


def test_the_pause_hears_how_long_its_leader_has_waited():
    """A message handed in during a batch leads the next having waited out the first: the pause hears it."""
    recorder = Recorder()
    waited, companions = [], []

    def pause(seconds, _window):
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
    _pause_for(server)(waited, 0.01)
    assert server.slept == pytest.approx(slept)


def test_a_lone_message_is_a_batch_of_one():
    recorder = Recorder()
    recorder.release.set()
    group = GroupCommit(recorder, threading.Lock(), pause=lambda _waited, _window: None)
    assert [outcome_of(group, n) for n in range(3)] == ["stored 0", "stored 1", "stored 2"]
    assert recorder.batches == [[0], [1], [2]]


def test_after_a_pause_that_gathers_nothing_only_every_eighth_batch_pauses():
    """A lone sender's messages: one pause finds nobody, then 1 batch in PROBE_EVERY pauses to look again."""
    recorder = Recorder()
    recorder.release.set()
    paused_before = []
    group = GroupCommit(
        recorder, threading.Lock(), pause=lambda _waited, _window: paused_before.append(len(recorder.batches))
    )
    for n in range(20):
        outcome_of(group, n)
    assert recorder.batches == [[n] for n in range(20)]
    # Numbered from 0: batch 0 pauses (nothing known yet), then batches 8 and 16.
    assert paused_before == [0, PROBE_EVERY, 2 * PROBE_EVERY]


def test_while_pauses_gather_every_batch_pauses():
    """Each pause finds another sender's message waiting: the next batch pauses too."""
    recorder = Recorder()
    recorder.release.set()
    group = None
    pauses = []

    def pause(_waited, _window):
        # Another sender's message arrives while the leader pauses.
        pauses.append(len(recorder.batches))
        threads, _outcomes = submit_all(group, [f"other {len(pauses)}"])
        wait_until_queued(group, 2)
        others.extend(threads)

    others = []
    group = GroupCommit(recorder, threading.Lock(), pause=pause)
    for n in range(3):
        outcome_of(group, n)
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
        pause=lambda _waited, _window: pauses.append(1),
        window=lambda item: None if item == "public" else 0.0,
    )
    for item in ["public"] * 10:
        outcome_of(group, item)
    outcome_of(group, "private")
    assert pauses == [1]


def test_private_messages_gather_for_the_window_public_ones_only_with_gather_public():
    """Public messages pause only with ``gather_public`` (eventlet on PostgreSQL), and then without a window.

    Nothing pauses with the benchmark's no-store switch.
    """
    sender, recipient = OnlineUser(1, "ann"), OnlineUser(2, "bob")
    private = (Draft(sender, recipient, "hi"), "sid")
    public = (Draft(sender, None, "hi all"), "sid")

    window = _window_for(MessageStore(), 0.01)
    assert window(private) == 0.01
    assert window(public) is None
    gathering = _window_for(MessageStore(), 0.01, gather_public=True)
    assert gathering(private) == 0.01
    assert gathering(public) == 0
    assert _window_for(UnstoredMessages(), 0.01, gather_public=True)(private) is None
    assert _window_for(UnstoredMessages(), 0.01, gather_public=True)(public) is None


def test_with_defer_the_submitter_of_a_batch_that_pauses_goes_on_and_hears_its_outcome_later():
    """The leader's pause is taken by a task started at its end: ``submit`` returns PENDING at once."""
    recorder = Recorder()
    recorder.release.set()
    deferred, heard, pauses = [], [], []
    group = GroupCommit(
        recorder,
        threading.Lock(),
        pause=lambda _waited, _window: pauses.append(1),
        window=lambda item: None if item == "public" else 0.25,
        defer=lambda until, function, *args: deferred.append((until, function, args)),
    )
    before = time.monotonic()
    assert group.submit("private", heard.append) is PENDING
    assert group.submit("another", heard.append) is PENDING
    assert recorder.batches == [] and heard == []
    ((until, function, args),) = deferred
    assert before + 0.25 <= until <= time.monotonic() + 0.25, "the window counts from the submission"
    function(*args)
    assert recorder.batches == [["private", "another"]]
    assert heard == ["stored private", "stored another"]
    assert pauses == [], "the deferred task does not pause again"
    # A message that does not pause is led at once, by its own submitter.
    assert group.submit("public", heard.append) == "stored public"
    assert len(deferred) == 1


def test_with_defer_the_next_batch_is_deferred_from_a_task_of_its_own():
    """A message that arrives during a batch is led after it, deferred from a spawned task.

    Under eventlet that task starts a poll later than the batch before
    ended, so the writers that batch woke run first (``_hand_over``):
    deferred straight from the batch before, every poll delivered a batch.
    """
    heard, deferred, spawned = [], [], []

    def process(items):
        if items == ["first", "another"]:
            assert group.submit("second", heard.append) is PENDING
        return [f"stored {item}" for item in items]

    def defer(until, function, *args):
        deferred.append((until, function, args))

    group = GroupCommit(
        process,
        threading.Lock(),
        pause=lambda _waited, _window: None,
        spawn=lambda function, *args: spawned.append((function, args)),
        window=lambda _item: 0.25,
        defer=defer,
    )
    assert group.submit("first", heard.append) is PENDING
    assert group.submit("another", heard.append) is PENDING  # so the pause gathered: the next one pauses too
    ((_until, lead, args),) = deferred
    before_second = time.monotonic()
    lead(*args)
    assert heard == ["stored first", "stored another"]
    assert len(deferred) == 1, "the next batch is not deferred from the batch that ended"
    ((function, spawn_args),) = spawned
    assert function is defer
    function(*spawn_args)
    (until, lead, args) = deferred[1]
    assert until >= before_second + 0.25, "the window still counts from the submission"
    lead(*args)
    assert heard == ["stored first", "stored another", "stored second"]


class Stages:
    """``overlap`` stages that record each call, in order; a batch's ``end`` may wait for a signal.

    ``held(item)`` keeps the ``end`` of the batch holding ``item`` waiting
    until ``hold[item]`` is set; ``on_end(items)`` runs in each ``end`` (to
    submit more); ``fail_delivery`` fails the delivery of the batch holding it.
    """

    def __init__(self, lock, fail_delivery=None):
        self.calls = []
        self.lock = lock
        self.hold = {}
        self.ending = {}
        self.on_end = None
        self.fail_delivery = fail_delivery
        self.leaders = []

    def begin(self, items):
        self.calls.append(("begin", list(items), self.lock.locked()))
        return "sent"

    def end(self, items, sent):
        assert sent == "sent"
        for item in items:
            if item in self.ending:
                self.ending[item].set()
            if item in self.hold:
                assert self.hold[item].wait(WAIT)
        if self.on_end is not None:
            self.on_end(items)
        self.calls.append(("end", list(items), self.lock.locked()))
        return [f"stored {item}" for item in items]

    def deliver(self, items, outcomes):
        self.calls.append(("deliver", list(items), self.lock.locked()))
        if self.fail_delivery in items:
            raise RuntimeError(f"cannot deliver {self.fail_delivery}")

    def held(self, item):
        """Hold the ``end`` of ``item``'s batch; return an Event set once that ``end`` has begun."""
        self.hold[item] = threading.Event()
        self.ending[item] = threading.Event()
        return self.ending[item]

    def second_in_chain(self, group, first_later, second, second_later):
        """Submit "first", then ``second`` while the first is stored; return once ``second``'s is stored."""
        first_ending, second_ending = self.held("first"), self.held(second)
        assert group.submit("first", first_later) is PENDING
        assert first_ending.wait(WAIT)
        assert group.submit(second, second_later) is PENDING
        self.hold["first"].set()
        assert second_ending.wait(WAIT)

    def spawn(self, function, *args):
        thread = threading.Thread(target=function, args=args, name="leader")
        self.leaders.append(thread)
        thread.start()

    def group(self, detach=True):
        """A group commit in stages; with ``detach`` every batch is led by a task (no item pauses)."""
        return GroupCommit(
            None,
            self.lock,
            pause=lambda _waited, _window: None,
            spawn=self.spawn,
            window=(lambda _item: None) if detach else None,
            overlap=(self.begin, self.end, self.deliver),
            detach=detach,
        )


def test_with_overlap_the_next_batch_is_sent_before_the_one_before_is_delivered():
    """What queued while a batch was stored goes to the store before that batch's deliveries."""
    stages = Stages(threading.Lock())
    group = stages.group()
    replies = Replies()
    ending = stages.held("first")
    assert group.submit("first", replies.later("first")) is PENDING
    assert ending.wait(WAIT)
    assert [group.submit(item, replies.later(item)) for item in ("a", "b")] == [PENDING, PENDING]
    stages.hold["first"].set()
    assert replies.all_heard.wait(WAIT)
    assert replies.heard == {"first": "stored first", "a": "stored a", "b": "stored b"}
    assert stages.calls == [
        ("begin", ["first"], True),
        ("end", ["first"], True),
        ("begin", ["a", "b"], True),
        ("deliver", ["first"], True),
        ("end", ["a", "b"], True),
        ("deliver", ["a", "b"], True),
    ], "one hold of the lock, the next batch sent before the first was delivered"
    assert len(stages.leaders) == 1 and replies.threads == {"leader"}
    stages.leaders[0].join(WAIT)
    assert not stages.lock.locked()


def test_each_batch_of_a_chain_is_answered_once_delivered_not_when_the_chain_ends():
    stages = Stages(threading.Lock())
    group = stages.group()
    first, second = Replies(), Replies()
    stages.second_in_chain(group, first.later("first"), "second", second.later("second"))
    assert first.all_heard.wait(WAIT) and first.heard == {"first": "stored first"}
    assert second.heard == {}
    stages.hold["second"].set()
    assert second.all_heard.wait(WAIT) and second.heard == {"second": "stored second"}


def test_a_submitter_leading_its_own_batch_is_not_held_up_by_the_batches_after_it():
    """In its socket's reader (no ``detach``): its batch goes alone, and a task leads the next."""
    stages = Stages(threading.Lock())
    group = stages.group(detach=False)
    ending = stages.held("first")
    first_threads, first = submit_all(group, ["first"])
    assert ending.wait(WAIT)
    replies = Replies()
    second_ending = stages.held("second")
    assert group.submit("second", replies.later("second")) is PENDING
    stages.hold["first"].set()
    first_threads[0].join(WAIT)
    assert not first_threads[0].is_alive(), "the first sender waited for the batch after its own"
    assert first == {"first": "stored first"}
    assert second_ending.wait(WAIT) and replies.heard == {}
    stages.hold["second"].set()
    assert replies.all_heard.wait(WAIT) and replies.heard == {"second": "stored second"}
    assert replies.threads == {"leader"}


def test_a_chain_lets_the_lock_go_after_CHAIN_batches():
    """A steady stream would never end a chain: after CHAIN batches the next leader takes the lock anew."""
    holds = []

    class CountingLock:
        def __init__(self):
            self._lock = threading.Lock()

        def __enter__(self):
            self._lock.acquire()
            holds.append([])

        def __exit__(self, *exc_info):
            self._lock.release()

        def locked(self):
            return self._lock.locked()

    stages = Stages(CountingLock())
    group = stages.group()
    replies = Replies()
    count = CHAIN + 3
    submitted = []

    def more(items):
        """While each batch is stored, the next message arrives (on another thread, as a socket's)."""
        holds[-1].append(items[0])
        if len(submitted) < count:
            item = f"m{len(submitted)}"
            submitted.append(item)
            assert group.submit(item, replies.later(item)) is PENDING
            wait_until_queued(group, 1)

    stages.on_end = more
    assert group.submit("first", replies.later("first")) is PENDING
    assert replies.all_heard.wait(WAIT)
    assert [len(hold) for hold in holds] == [CHAIN, count + 1 - CHAIN]
    assert replies.heard == {item: f"stored {item}" for item in ["first", *submitted]}


def test_a_batch_of_a_chain_that_fails_fails_its_senders_and_the_batch_sent_after_it_only():
    stages = Stages(threading.Lock(), fail_delivery="bad")
    group = stages.group()
    replies = Replies()
    stages.second_in_chain(group, replies.later("first"), "bad", replies.later("bad"))
    assert group.submit("sent after", replies.later("sent after")) is PENDING
    stages.hold["bad"].set()
    assert replies.all_heard.wait(WAIT)
    assert replies.heard["first"] == "stored first", "the first batch was delivered: its sender hears so"
    for item in ("bad", "sent after"):
        assert isinstance(replies.heard[item], RuntimeError), replies.heard
    assert outcome_of(group, "after") == "stored after", "the next batch runs"
    assert ("deliver", ["sent after"], True) not in stages.calls


def test_the_lock_is_held_while_a_batch_is_processed():
    lock = threading.Lock()
    held = []
    group = GroupCommit(
        lambda items: [held.append(lock.locked()) for _ in items], lock, pause=lambda _waited, _window: None
    )
    outcome_of(group, "x")
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
    group = GroupCommit(lambda items: list(items), lock, pause=lambda _waited, _window: None)
    with pytest.raises(ConnectionError):
        group.submit("x", None)
    lock.broken = False
    assert outcome_of(group, "y") == "y"


# Three sockets become readable in the same poll of eventlet's hub. Each reader, like a
# handler that has just delivered a message, wakes a writer (a greenlet due at once),
# then submits. Prints the batches and the writes, in the order they ran.
_EVENTLET_SOCKETS_READ_TOGETHER = """
import eventlet
eventlet.monkey_patch()
import contextlib, json, socket, threading
import socketio
from app.chat.groupcommit import GroupCommit

from app.chat.service import _defer_for, _pause_for

server = socketio.Server(async_mode="eventlet")
ran = []

def process(items):
    ran.append(["batch", *sorted(items)])
    return items

group = GroupCommit(
    process, threading.Lock(), _pause_for(server), spawn=server.start_background_task,
    defer=_defer_for(server, contextlib.nullcontext),
)
pairs = [socket.socketpair() for _ in range(3)]

def reader(name, sock):
    sock.recv(1)
    eventlet.spawn(ran.append, ["write", name])
    group.submit(name, lambda _outcome: None)

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
    """The batch's task, started at the end of the poll, takes the messages read in that poll.

    It runs ahead of the writers woken before it (under fan-out, hundreds of
    deliveries), so their turn does not delay its message: with ``sleep(0)``
    the first write ran before the batch, and without a pause each message was
    a batch of its own.
    """
    result = run_python(_EVENTLET_SOCKETS_READ_TOGETHER)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran[0] == ["batch", "A", "B", "C"], ran
    assert sorted(map(tuple, ran[1:])) == [("write", "A"), ("write", "B"), ("write", "C")], ran


# Under eventlet, messages that do not pause: a leader whose batch takes a while (as a
# PostgreSQL round trip yields), three more messages meanwhile, from sockets that do not
# wait; the first of them leads the next batch in a greenlet of its own. Prints batches
# and outcomes.
_EVENTLET_HANDOVER = """
import eventlet
eventlet.monkey_patch()
import json, threading
import socketio
from app.chat.groupcommit import PENDING, GroupCommit
from app.chat.service import _pause_for

server = socketio.Server(async_mode="eventlet")
batches, outcomes, returned = [], {}, {}

def process(items):
    batches.append(sorted(items))
    eventlet.sleep(0.02)
    return [f"stored {item}" for item in items]

group = GroupCommit(
    process, threading.Lock(), _pause_for(server), spawn=server.start_background_task,
    window=lambda _item: None,
)

def send(item):
    outcome = group.submit(item, lambda outcome: outcomes.__setitem__(item, outcome))
    returned[item] = "pending" if outcome is PENDING else outcome

first = eventlet.spawn(send, "a")
eventlet.sleep(0.005)
later = [eventlet.spawn(send, item) for item in "bcd"]
for greenlet in later:
    greenlet.wait()
returned_at_once = dict(returned)
first.wait()
while len(outcomes) < 3:
    eventlet.sleep(0.01)
print(json.dumps(dict(batches=batches, outcomes=outcomes, returned=returned, at_once=returned_at_once)))
"""


def test_under_eventlet_a_message_during_a_batch_is_answered_by_the_next_led_by_a_greenlet():
    """The senders of messages that arrive during a batch go on at once; the next batch stores them.

    It is led by a greenlet of its own, and each sender hears its own outcome.
    """
    result = run_python(_EVENTLET_HANDOVER)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["batches"] == [["a"], ["b", "c", "d"]], ran
    assert ran["at_once"] == {item: "pending" for item in "bcd"}, "a sender waited for its batch"
    assert ran["returned"] == {"a": "stored a", **{item: "pending" for item in "bcd"}}, ran
    assert ran["outcomes"] == {item: f"stored {item}" for item in "bcd"}, ran


# Under eventlet, with a commit window of 50 ms or none: a message handed in 10 ms after
# the leader's (from a socket read in a later poll). Prints the batches.
_EVENTLET_WINDOW = """
import eventlet
eventlet.monkey_patch()
import contextlib, json, os, threading
import socketio
from app.chat.groupcommit import GroupCommit
from app.chat.service import _defer_for, _pause_for

server = socketio.Server(async_mode="eventlet")
batches, heard = [], []

def process(items):
    batches.append(sorted(items))
    return items

window = float(os.environ["WINDOW"])
group = GroupCommit(
    process, threading.Lock(), _pause_for(server), spawn=server.start_background_task,
    window=lambda _item: window, defer=_defer_for(server, contextlib.nullcontext),
)
first = eventlet.spawn(group.submit, "a", heard.append)
eventlet.sleep(0.01)
later = eventlet.spawn(group.submit, "b", heard.append)
first.wait(), later.wait()
while sum(map(len, batches)) < 2:
    eventlet.sleep(0.01)
print(json.dumps(batches))
"""


@pytest.mark.parametrize(("window", "batches"), [(0.05, [["a", "b"]]), (0, [["a"], ["b"]])])
def test_under_eventlet_a_message_within_the_commit_window_joins_the_batch(window, batches):
    """The window gathers what arrives while it lasts; without one, only what was read at once."""
    result = run_python(_EVENTLET_WINDOW, WINDOW=str(window))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == batches


# Under eventlet, the leader's pause deferred to a task (``_defer_for``): socket A has two
# messages buffered, B and C one each, all read in the same poll. Each reader submits what
# it reads and reads on. Prints the batches.
_EVENTLET_DEFERRED = """
import eventlet
eventlet.monkey_patch()
import contextlib, json, socket, threading
import socketio
from app.chat.groupcommit import GroupCommit
from app.chat.service import _defer_for, _pause_for

server = socketio.Server(async_mode="eventlet")
batches = []

def process(items):
    batches.append(sorted(items))
    return items

defer = _defer_for(server, contextlib.nullcontext)
group = GroupCommit(
    process, threading.Lock(), _pause_for(server), spawn=server.start_background_task,
    window=lambda _item: 0.0, defer=defer,
)
pairs = {name: socket.socketpair() for name in "ABC"}

def reader(name, sock, count):
    for number in range(1, count + 1):
        sock.recv(1)
        group.submit(f"{name}{number}", lambda _outcome: None)

readers = [eventlet.spawn(reader, name, pair[1], 2 if name == "A" else 1) for name, pair in pairs.items()]
eventlet.sleep(0.05)
for name, pair in pairs.items():
    pair[0].send(b"xx" if name == "A" else b"x")
for greenlet in readers:
    greenlet.wait()
while sum(map(len, batches)) < 4:
    eventlet.sleep(0.01)
print(json.dumps(batches))
"""


def test_under_eventlet_the_socket_that_starts_a_batch_reads_on_while_it_gathers():
    """With the pause deferred to a task, the leader's own next message joins the batch.

    Paused in its reader, the leader's socket gave one message per poll: a busy
    sender fell behind for good.
    """
    result = run_python(_EVENTLET_DEFERRED)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["A1", "A2", "B1", "C1"]]


# The app under eventlet, on a PostgreSQL URL or on SQLite (nothing is connected to):
# prints the window of a public and of a private message, and whether batches are deferred.
_EVENTLET_APP_WINDOWS = """
import eventlet
eventlet.monkey_patch()
import json, os
from app import create_app
from app.chat.presence import OnlineUser
from app.chat.store import Draft

config = {"SQLALCHEMY_DATABASE_URI": os.environ["URI"], "CHAT_AUTO_MIGRATE": False, "SECRET_KEY": "x"}
app = create_app(config)
commits = app.extensions["chat"]._commits
ann, bob = OnlineUser(1, "ann"), OnlineUser(2, "bob")
windows = [commits._window((Draft(ann, to, "hi"), "sid")) for to in (None, bob)]
print(json.dumps(dict(windows=windows, deferred=commits._defer is not None)))
"""


@pytest.mark.parametrize(
    ("uri", "public"),
    [("postgresql+psycopg://postgres@127.0.0.1:5432/test", 0.0), ("sqlite:///:memory:", None)],
)
def test_under_eventlet_public_messages_gather_on_postgresql_only(uri, public):
    result = run_python(_EVENTLET_APP_WINDOWS, URI=uri)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"windows": [public, 0.01], "deferred": True}


def test_under_threading_nothing_is_deferred_and_public_messages_never_pause(app):
    commits = app.extensions["chat"]._commits
    ann = OnlineUser(1, "ann")
    assert commits._defer is None
    assert commits._window((Draft(ann, None, "hi"), "sid")) is None
