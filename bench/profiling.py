"""Optional sampling profiles of the Python servers under load (py-spy), reduced to hot spots."""

import contextlib
import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

from .servers import BIN, GENERATOR_CORE, pinned

LINE_NUMBER = re.compile(r":\d+\)$")


def py_spy():
    """The py-spy executable, or None when it is not installed (``pip install py-spy``)."""
    candidate = BIN / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


class Profiler:
    """``py-spy record`` on one process until ``stop``: collapsed stacks (raw format) in ``path``."""

    def __init__(self, pid, path, pin, rate=250):
        self.path = Path(path)
        command = [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--output", str(self.path),
                   "--rate", str(rate), "--nonblocking"]  # fmt: skip
        self.process = subprocess.Popen(
            # On the generator's core: the server's core stays the server's.
            pinned(command, GENERATOR_CORE, pin),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self):
        """Stop sampling (py-spy writes its file on SIGINT)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.path if self.path.exists() else None


def hot_spots(path, top=15):
    """The functions with the most samples: on the stack (inclusive) and at its top (self)."""
    inclusive, own = Counter(), Counter()
    total = 0
    with contextlib.suppress(OSError), Path(path).open() as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            # The first frames name the process and thread; the rest are functions, outermost first.
            frames = [LINE_NUMBER.sub(")", frame) for frame in stack.split(";") if " (" in frame]
            if not frames:
                continue
            total += samples
            for frame in set(frames):
                inclusive[frame] += samples
            own[frames[-1]] += samples

    def share(counter, count=top):
        return [(frame, round(100 * samples / total, 1)) for frame, samples in counter.most_common(count)]

    if not total:
        return None
    return {"samples": total, "self": share(own), "inclusive": share(inclusive, top * 2)}
