"""The servers under test: Chatroom under gunicorn, the bare Flask-SocketIO app, the Node peer."""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support import free_port

from . import procstat

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER_CORE = 0
GENERATOR_CORE = 1
# The gunicorn workers Chatroom supports in production, each benchmarked with its own bare floor.
WORKERS = ("eventlet", "gevent", "gthread")
STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 15


def can_pin():
    """Pin server and generator to different cores when taskset exists and there are two."""
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pinned(command, core, pin):
    """``command`` run on ``core`` through taskset (its children inherit the affinity)."""
    return ["taskset", "-c", str(core), *command] if pin else command


@dataclass
class ServerSpec:
    """One server configuration under test.

    ``kind`` is chatroom, bare or node; ``worker`` the gunicorn worker class
    (one of ``WORKERS``); ``store`` sqlite, postgresql or none (Chatroom's
    CHAT_BENCH_NO_STORE=1).
    """

    key: str
    label: str
    kind: str
    worker: str | None = None
    store: str | None = None
    env: dict = field(default_factory=dict)

    @property
    def auth(self):
        """How the generator identifies users: Chatroom's session cookie, the peers' auth {user}."""
        return "cookie" if self.kind == "chatroom" else "user"

    @property
    def baseline(self):
        """The bare app under the same worker: the floor Chatroom is compared with."""
        return f"bare-{self.worker}" if self.kind == "chatroom" else None


def gunicorn_args(worker, connections):
    """The production command line for ``worker``, sized for ``connections`` sockets.

    gthread holds one thread per websocket, and also stops accepting at
    ``--worker-connections`` (1,000 by default), so both must cover the sockets.
    """
    if worker in ("eventlet", "gevent"):
        return ["-k", worker, "-w", "1", "--worker-connections", "10000"]
    threads = connections + 50
    return [
        *("-k", "gthread", "-w", "1", "--threads", str(threads)),
        *("--worker-connections", str(max(1000, threads + 100))),
    ]


class Server:
    """One running server process, pinned to the server core, its output in ``log_path``."""

    def __init__(self, spec, workdir, connections, pin, extra_env=None, gunicorn_config=None, root=REPO_ROOT):
        self.spec = spec
        self.root = Path(root)  # the checkout it runs from (bench.paired: another worktree)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(workdir) / f"{spec.key}-{self.port}.log"
        self.connections = connections
        self.pin = pin
        self.extra_env = extra_env or {}
        self.gunicorn_config = gunicorn_config
        self.process = None
        self.command = None

    def _command(self):
        bind = ["-b", f"127.0.0.1:{self.port}", "--no-control-socket", "--graceful-timeout", "3"]
        if self.gunicorn_config:
            bind += ["-c", str(self.gunicorn_config)]
        if self.spec.kind == "node":
            return ["node", str(self.root / "bench/peer/server.js"), "--port", str(self.port)]
        target = "wsgi:app" if self.spec.kind == "chatroom" else "bench.bare_app:app"
        return [str(BIN / "gunicorn"), *gunicorn_args(self.spec.worker, self.connections), *bind, target]

    def start(self):
        """Start it and wait until /healthz answers 200."""
        env = {**os.environ, **self.spec.env, **self.extra_env}
        env.pop("CHAT_ASYNC_MODE", None)  # the async mode must follow the worker, as in production
        env.pop("REDIS_URL", None)  # one process: everything in memory
        self.command = self._command()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                pinned(self.command, SERVER_CORE, self.pin),
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.key} exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.spec.key} did not answer /healthz in {STARTUP_TIMEOUT} s:\n{self.log()}")

    @property
    def pid(self):
        """The pid of the master process (gunicorn's arbiter, or node)."""
        return self.process.pid

    def memory_pid(self):
        """The process that holds the sockets: gunicorn's (only) worker, or node itself."""
        if self.spec.kind == "node":
            return self.pid
        workers = procstat.children(self.pid)
        return workers[0] if workers else self.pid

    def stop(self):
        """SIGTERM the process group, then SIGKILL it when it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def worker_restarts(self):
        """How often gunicorn replaced its worker (WORKER TIMEOUT and the like): 0 for a healthy run."""
        if self.spec.kind == "node":
            return 0
        return max(0, self.log_path.read_text(errors="replace").count("Booting worker") - 1)

    def gc_pauses(self):
        """The garbage collections bench/gc_probe.py logged: {"full": [ms, ...], "long": [ms, ...]}."""
        pauses = {"full": [], "long": []}
        if not self.log_path.exists():
            return pauses
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("bench-gc gen="):
                generation, elapsed = (field.split("=")[1] for field in line.split()[1:3])
                pauses["full" if generation == "2" else "long"].append(float(elapsed))
        return pauses

    def log(self):
        """Everything the server printed so far (the last 4,000 characters)."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def secret_key():
    """A fresh random SECRET_KEY for one benchmark invocation."""
    return secrets.token_hex(32)
