"""The Node load generator (bench/loadgen.js) as seen from Python: commands in, events out."""

import json
import queue
import subprocess
import threading
import time
from pathlib import Path

from .servers import GENERATOR_CORE, REPO_ROOT, pinned


class GeneratorError(RuntimeError):
    """The generator reported an error, died, or went silent past a deadline."""


class LoadGenerator:
    """One ``node bench/loadgen.js`` process, pinned to the generator core.

    ``hooks`` maps an event type to a function called from the reader thread
    the moment that line arrives: the CPU snapshots at a step's start and end
    are taken there, so they sit as close as possible to the load they measure.
    """

    def __init__(self, pin, log_path):
        self.hooks = {}
        self._events = queue.Queue()
        self._log = Path(log_path).open("ab")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            pinned(["node", str(REPO_ROOT / "bench/loadgen.js")], GENERATOR_CORE, pin),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self):
        """The node process's pid."""
        return self.process.pid

    def _read(self):
        for line in self.process.stdout:
            event = json.loads(line)
            hook = self.hooks.get(event.get("type"))
            if hook is not None:
                hook(event)
            self._events.put(event)
        self._events.put({"type": "exited", "code": self.process.wait()})

    def send(self, command, **fields):
        """Queue one command; the generator runs them in order."""
        self.process.stdin.write(json.dumps({"cmd": command, **fields}) + "\n")
        self.process.stdin.flush()

    def expect(self, event_type, timeout):
        """Wait for the next event of ``event_type``; raise on error, exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GeneratorError(f"no {event_type!r} from the generator in {timeout:.0f} s")
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event["type"] == event_type:
                return event
            if event["type"] in ("error", "exited"):
                raise GeneratorError(f"generator {event['type']}: {event}")

    def request(self, command, reply, timeout, **fields):
        """Send ``command`` and wait for its ``reply`` event."""
        self.send(command, **fields)
        return self.expect(reply, timeout)

    def close(self):
        """Ask it to exit; kill it if it does not."""
        if self.process.poll() is None:
            try:
                self.send("exit")
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
