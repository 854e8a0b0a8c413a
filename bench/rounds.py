"""Several rounds of the same servers, interleaved, reduced to each server's median round.

One ladder's ceiling moves by a step or two from run to run on these machines
(the host's speed drifts within minutes: bench/README.md, "Compare within one
run, and repeat"), as much as the gap the target is about. ``--rounds N``
runs every selected server N times, round after round (each round in the
opposite order to the one before, so no server always goes first), and keeps
for each server and scenario the round whose ceiling is the median: its steps
and best step stand for the server in every table, so each figure still comes
from one real ladder. Every round's ceiling is kept beside it, and so are its
steps: losses, duplicates and disturbed steps are counted over all rounds.

The ratios to the bare floor are given two ways: the ratio of the medians (the
tables), and the median of each round's own ratio (a Chatroom variant and its
floor ran minutes apart within a round, so the host's drift cancels better).
"""

import statistics

KINDS = ("fanout", "private")
# What each round's record holds once per process run: summed over the rounds.
COUNTED = ("stray_receipts", "unexpected_disconnects", "worker_restarts")


def ceiling(block):
    """A ladder's highest received deliveries/s with p99 under the limit; 0 when no step passed."""
    if not block:
        return None
    best = block.get("best")
    return best["received_deliveries_s"] if best else 0


def combine(records):
    """One record standing for a server's rounds (``records``, in round order)."""
    if len(records) == 1:
        return records[0]
    combined = dict(records[0])  # the spec, and what only the first round runs (idle connections)
    combined["rounds"] = len(records)
    errors = [
        f"round {number}: {record['error']}"
        for number, record in enumerate(records, 1)
        if record.get("error")
    ]
    if errors:
        combined["error"] = "; ".join(errors)
    for name in COUNTED:
        values = [record.get(name) for record in records if record.get(name) is not None]
        if values:
            combined[name] = sum(values)
    for kind in KINDS:
        blocks = [record.get(kind) for record in records]
        ran = [(number, block) for number, block in enumerate(blocks, 1) if block]
        if not ran:
            combined.pop(kind, None)
            continue
        # The median round (the lower of the two middle ones when the count is even).
        order = sorted(ran, key=lambda item: ceiling(item[1]))
        chosen_number, chosen = order[(len(order) - 1) // 2]
        others = [
            {**step, "round": number}
            for number, block in ran
            if number != chosen_number
            for step in block["steps"]
        ]
        combined[kind] = {
            **chosen,
            "round": chosen_number,
            "ceilings": [ceiling(block) for block in blocks],
            "other_steps": others,
        }
        chosen_record = records[chosen_number - 1]
        for name in ("command", "extensions", "profile", "profile_file", "gc"):
            if name in chosen_record:
                combined[name] = chosen_record[name]
    return combined


def every_step(record, kind):
    """The steps of every round of ``record``'s ladder for ``kind`` (the median round's first)."""
    block = record.get(kind) or {}
    return [*block.get("steps", []), *block.get("other_steps", [])]


def paired_ratios(record, baseline, kind):
    """Each round's ceiling of ``record`` over its baseline's in that round (None where one is missing)."""
    mine = (record.get(kind) or {}).get("ceilings")
    theirs = (baseline.get(kind) or {}).get("ceilings")
    if not mine or not theirs:
        return []
    return [a / b if a is not None and b else None for a, b in zip(mine, theirs, strict=False)]


def median(values):
    """The median of the values that are not None (None when there are none)."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None
