"""A gunicorn config file for ``bench.run --gc-log``: log the worker's long garbage collections.

A full (generation 2) collection stops every socket of the worker while it runs, under
eventlet (one thread) and gthread (the GIL) alike. Each one, and any collection over
5 ms, is written to the server log as ``bench-gc gen=2 ms=97.1``; the benchmark reads
them back into its report. With ``BENCH_GC_FREEZE=1`` (``bench.run --gc-freeze``) the
worker first moves everything it allocated while starting into the permanent
generation (``gc.freeze()``), which full collections then no longer scan.
"""

import gc
import os
import sys
import time

LONG_MS = 5


def post_worker_init(worker):
    """gunicorn hook: runs in the worker once the app is loaded."""
    if os.environ.get("BENCH_GC_FREEZE") == "1":
        gc.collect()
        gc.freeze()
        sys.stderr.write(f"bench-gc frozen={gc.get_freeze_count()}\n")
    started = [0.0]

    def timing(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        elapsed_ms = (time.perf_counter() - started[0]) * 1000
        if info["generation"] == 2 or elapsed_ms > LONG_MS:
            sys.stderr.write(f"bench-gc gen={info['generation']} ms={elapsed_ms:.1f}\n")

    gc.callbacks.append(timing)
