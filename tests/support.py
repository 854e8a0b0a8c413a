"""Real servers for the tests: the app under gunicorn, and a Redis of the test's own."""

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = REPO_ROOT / ".venv" / "bin" / "gunicorn"
STARTUP_TIMEOUT = 30
STOP_TIMEOUT = 5
WORKER_ARGS = {
    "eventlet": ["-k", "eventlet", "-w", "1", "--worker-connections", "1000"],
    "gevent": ["-k", "gevent", "-w", "1", "--worker-connections", "1000"],
    "gthread": ["-k", "gthread", "-w", "1", "--threads", "100"],
}
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def wait_until(condition, timeout, step=0.05):
    """Poll ``condition`` until it is true; return the seconds it took, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    return None


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter at the repo root; return the completed process."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def csrf_token(html):
    """The CSRF token of the first form in a rendered page."""
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1) or match.group(2)


def free_port():
    """A loopback port nobody listens on right now (never 5000, the development server's)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != 5000:
            return port


class LiveServer:
    """``gunicorn wsgi:app`` in a subprocess, its output captured to a file.

    ``env`` adds to the environment (DATABASE_URL, REDIS_URL, ...); by default
    the database is a fresh SQLite file in ``workdir``. ``restart`` starts it
    again on the same port and database, as after a crash.
    """

    def __init__(self, worker, workdir, **env):
        self.worker = worker
        self.workdir = Path(workdir)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / f"server-{self.port}.log"
        # The app's own settings are never inherited from the shell running the tests (a
        # REDIS_URL, CHAT_ASYNC_MODE or CHAT_RATE_LIMIT there would change what is tested);
        # the async mode must follow the worker, as it does in production.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("CHAT_") and name not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY"}
        }
        self.env = {
            **inherited,
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{self.workdir / 'chat.sqlite3'}",
            "CHAT_ENV": "production",
            **env,
        }
        self.process = None

    def url(self, path):
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    def start(self):
        """Start gunicorn and wait until /healthz answers 200."""
        command = [
            str(GUNICORN),
            *WORKER_ARGS[self.worker],
            "-b",
            f"127.0.0.1:{self.port}",
            # The default control socket is one per user: concurrent servers would fight over it.
            "--no-control-socket",
            "wsgi:app",
        ]
        with self.log_path.open("ab") as log:
            # Its own process group, so that a server that will not stop is killed with its worker.
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn ({self.worker}) exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url("/healthz"), timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"gunicorn ({self.worker}) did not answer /healthz in {STARTUP_TIMEOUT} s:\n{self.log()}")

    def stop(self):
        """SIGTERM, then SIGKILL to master and worker when they do not exit in time.

        The eventlet worker sometimes waits for its whole graceful timeout (30 s):
        a websocket greenlet can stay blocked in recv() after its client left.
        """
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """SIGKILL the master and its worker at once: a crash, no clean-up at all."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def restart(self):
        """Start again on the same port and database."""
        self.stop()
        return self.start()

    def log(self):
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class RedisServer:
    """A redis-server of the test's own on a free port, so a test may stop and restart it."""

    def __init__(self, workdir):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = Path(workdir)
        self.process = None

    @staticmethod
    def available():
        """Whether the redis-server binary is installed."""
        return shutil.which("redis-server") is not None

    def start(self):
        """Start it (empty: it keeps nothing on disk) and wait for PING."""
        import redis

        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        pytest.fail(f"redis-server on port {self.port} did not start")

    def stop(self):
        """Stop it abruptly, as when Redis goes away."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
