"""What each index costs SQLite (bench/sqlite_indexes.py): every layout asked for is measured."""

import subprocess
import sys

from tests.support import REPO_ROOT

# A short run: the point is that it runs, not its figures.
SMALL = ("--messages", "640", "--prefill", "1000", "--rounds", "1")


def test_the_sqlite_index_costs_run_every_layout_asked_for():
    done = subprocess.run(
        [sys.executable, "-m", "bench.sqlite_indexes", "now", "none", *SMALL],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["round 1, now", "round 1, none"]
    assert all(line.endswith("µs of CPU per message") for line in lines)
