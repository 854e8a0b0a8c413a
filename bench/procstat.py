"""CPU time and memory of processes, and the machine, read from /proc (Linux only)."""

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def children(pid):
    """The pids of ``pid``'s direct children."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in task.read_text().split())
    return found


def tree(pid):
    """``pid`` and all its descendants (gunicorn's master and its worker)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(children(current))
    return pids


def cpu_seconds(pid):
    """User + system CPU seconds used so far by ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid):
    """Resident set size of ``pid`` in bytes (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    except OSError:
        return 0


def core_busy():
    """Busy and total jiffies per CPU: {"cpu0": (busy, total), ...}."""
    cores = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(value) for value in values]
            idle = numbers[3] + numbers[4]  # idle + iowait
            cores[name] = (sum(numbers[:8]) - idle, sum(numbers[:8]))
    return cores


@dataclass
class Snapshot:
    """CPU counters of the watched processes and of the machine at one moment."""

    at: float
    cpu: dict
    cores: dict


class Watch:
    """CPU% and RSS of a server (its whole process tree) and of the load generator.

    ``database``, when given, returns the pids of the database server's
    processes working for this server (PostgreSQL's backends): their CPU is
    part of what a message costs, on whichever core they ran.
    """

    def __init__(self, server_pid, memory_pid, generator_pid, database=None):
        self.server_pid = server_pid
        self.memory_pid = memory_pid
        self.generator_pid = generator_pid
        self.database = database

    def snapshot(self):
        """Counters now: server tree CPU, generator CPU, database backends' CPU, per-core busy jiffies."""
        server = sum(cpu_seconds(pid) for pid in tree(self.server_pid))
        generator = cpu_seconds(self.generator_pid) if self.generator_pid else 0.0
        cpu = {"server": server, "generator": generator}
        if self.database is not None:
            cpu["database"] = {pid: cpu_seconds(pid) for pid in self.database()}
        return Snapshot(time.monotonic(), cpu, core_busy())

    def rss(self):
        """RSS of the process that holds the sockets (gunicorn's worker, or node), in bytes."""
        return rss_bytes(self.memory_pid)

    @staticmethod
    def usage(before, after):
        """CPU% (100 = one core) of server, generator and database, and busy% of each core, in between.

        A database process that started in between counts whole; one that
        ended in between is missed.
        """
        wall = max(after.at - before.at, 1e-9)
        seconds = {name: after.cpu[name] - before.cpu[name] for name in ("server", "generator")}
        if "database" in after.cpu:
            earlier = before.cpu.get("database", {})
            seconds["database"] = sum(
                cpu - earlier.get(pid, 0.0) for pid, cpu in after.cpu["database"].items()
            )
        usage = {name: round(100 * value / wall, 1) for name, value in seconds.items()}
        for core, (busy, total) in after.cores.items():
            busy_before, total_before = before.cores.get(core, (busy, total))
            usage[f"{core}_busy"] = round(100 * (busy - busy_before) / max(total - total_before, 1), 1)
        usage["cpu_seconds"] = {name: round(value, 3) for name, value in seconds.items()}
        return usage


def machine():
    """nproc, CPU model, memory, kernel: the machine the figures were taken on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": os.uname().release,
    }


def busy_cores(seconds=0.5):
    """Busy% of each core over the next ``seconds``: {"cpu0": 12.0, ...}."""
    before = core_busy()
    time.sleep(seconds)
    after = core_busy()
    return {
        core: round(100 * (busy - before[core][0]) / max(total - before[core][1], 1), 1)
        for core, (busy, total) in after.items()
    }


def wait_for_quiet(limit=15, longest=30, window=0.5):
    """Wait until every core is under ``limit``% busy (other people's work), at most ``longest`` s.

    Returns (seconds waited, the busy% last seen).
    """
    started = time.monotonic()
    while True:
        busy = busy_cores(window)
        waited = time.monotonic() - started
        if max(busy.values()) < limit or waited >= longest:
            return round(waited, 1), busy


def load_average():
    """The 1-minute load average: other work on the machine shows here."""
    return round(os.getloadavg()[0], 2)
