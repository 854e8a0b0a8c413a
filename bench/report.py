"""The benchmark's results as JSON, Markdown tables, a PNG chart and the README's Performance section."""

import json
import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .rounds import ceiling, every_step, median, paired_ratios
from .scenarios import P99_LIMIT_MS
from .servers import REPO_ROOT, WORKERS

PEERS = ("node", *(f"bare-{worker}" for worker in WORKERS))
KIND_TITLES = {
    "fanout": "Room fan-out",
    "private": "Private messages",
}


def versions():
    """Versions of everything that serves or generates load."""
    found = {"python": platform.python_version()}
    for package in (
        "Flask",
        "Flask-SocketIO",
        "python-socketio",
        "python-engineio",
        "eventlet",
        "gevent",
        "gunicorn",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    found["simple-websocket"] = _version_or_none("simple-websocket")
    try:
        found["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        found["node"] = None
    for package in ("socket.io", "socket.io-client"):
        manifest = REPO_ROOT / "node_modules" / package / "package.json"
        found[package] = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    return found


def _version_or_none(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------- figures


def _best(record, kind):
    return (record.get(kind) or {}).get("best")


def _bounded_by_generator(record, kind):
    """Whether the best rate is a lower bound: nothing failed above it, or the generator saturated there."""
    block = record.get(kind) or {}
    best = block.get("best")
    if not best:
        return False
    above = [step for step in block["steps"] if step["rate"] > best["rate"] and not step["passed"]]
    return not above or any(step["generator_saturated"] for step in above)


def _cpu_us_per_delivery(step):
    if not step or not step["received_deliveries_s"]:
        return None
    return 1e6 * (step["usage"]["server"] / 100) / step["received_deliveries_s"]


def _database_cpu_us_per_delivery(step):
    """The database's CPU (PostgreSQL's backends) per delivery; None where no database was watched."""
    if not step or not step["received_deliveries_s"] or "database" not in step["usage"]:
        return None
    return 1e6 * (step["usage"]["database"] / 100) / step["received_deliveries_s"]


def _p99(step):
    return step["latency_ms"]["p99"] if step and step["latency_ms"].get("count") else None


def _step_at(record, kind, rate):
    """The step ``record`` ran at ``rate``, else the one nearest to it (None without steps)."""
    steps = (record.get(kind) or {}).get("steps") or []
    return min(steps, key=lambda step: abs(math.log(step["rate"] / rate)), default=None)


def figures(record, reference=None):
    """The headline figures of one server: {figure key: (value, is a lower bound, rate note)}.

    p99 and CPU per delivery are read at ``reference``'s best rates (its own by
    default), so that servers are compared under the same load.
    """
    reference = reference or record
    out = {}
    for kind in ("fanout", "private"):
        best = _best(record, kind)
        if best:
            out[f"{kind}_max"] = (best["received_deliveries_s"], _bounded_by_generator(record, kind), "")
        target = _best(reference, kind)
        step = _step_at(record, kind, target["rate"]) if target else None
        if step:
            note = "" if step["rate"] == target["rate"] else f" @{step['rate']:g}"
            out[f"{kind}_p99"] = (_p99(step), False, note)
            out[f"{kind}_cpu"] = (_cpu_us_per_delivery(step), False, note)
            database = _database_cpu_us_per_delivery(step)
            if database is not None:
                out[f"{kind}_database_cpu"] = (database, False, note)
    idle = record.get("connections")
    if idle and idle.get("connected"):
        # Not all connected before the deadline: connecting them all takes longer than this.
        partial = idle["connected"] < idle["clients"]
        note = f" ({idle['connected']:,}/{idle['clients']:,} connected)" if partial else ""
        out["connect_s"] = (idle["connect_s"], partial, note)
        out["settle_s"] = (idle["settle_s"], False, "")
        out["kb_per_connection"] = (idle["kb_per_connection"], False, "")
    return out


FIGURES = [
    # key, label ({where}: whose best rate the figure is read at)
    ("fanout_max", "fan-out: max deliveries/s with p99 < 100 ms"),
    ("fanout_p99", "fan-out: p99 (ms) at {where} best rate"),
    ("fanout_cpu", "fan-out: server CPU µs per delivery at {where} best rate"),
    ("fanout_database_cpu", "fan-out: PostgreSQL's CPU µs per delivery at {where} best rate"),
    ("private_max", "private: max messages/s with p99 < 100 ms"),
    ("private_p99", "private: p99 (ms) at {where} best rate"),
    ("private_cpu", "private: server CPU µs per message at {where} best rate"),
    ("private_database_cpu", "private: PostgreSQL's CPU µs per message at {where} best rate"),
    ("connect_s", "connections: seconds to connect the idle clients"),
    ("settle_s", "connections: seconds until presence notices stop"),
    ("kb_per_connection", "connections: server RSS per idle connection (KB)"),
]


def _number(value):
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(figure):
    if figure is None or figure[0] is None:
        return "-"
    value, lower_bound, note = figure
    return ("≥ " if lower_bound else "") + _number(value) + note


def _ratio(mine, theirs):
    if not mine or not theirs or mine[0] is None or not theirs[0]:
        return "-"
    ratio = mine[0] / theirs[0]
    # Dividing by a lower bound gives an upper bound, and the other way round.
    bound = {(True, False): "≥ ", (False, True): "≤ "}.get((mine[1], theirs[1]), "~" if mine[1] else "")
    return f"{bound}{ratio:.2f}x" if ratio < 10 else f"{bound}{ratio:.0f}x"


# ---------------------------------------------------------------- Markdown


def _row(cells):
    return "| " + " | ".join(cells) + " |"


def _label(data, key):
    return data["servers"][key]["spec"]["label"]


def _chatroom_keys(data):
    return [key for key, record in data["servers"].items() if record["spec"]["kind"] == "chatroom"]


def summary_table(data):
    """Every headline figure of every Chatroom variant, with its Node and bare peers and the ratios.

    Latency and CPU are read at the Chatroom variant's best rate for all three.
    """
    servers = data["servers"]
    node = servers.get("node", {})
    lines = [
        "| figure | Chatroom variant | Chatroom | Node | bare, same worker | Chatroom/Node | Chatroom/bare |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for figure_key, figure_label in FIGURES:
        for key in _chatroom_keys(data):
            mine = figures(servers[key]).get(figure_key)
            if mine is None:
                continue
            by_node = figures(node, servers[key]).get(figure_key)
            bare = figures(servers.get(servers[key]["spec"]["baseline"], {}), servers[key]).get(figure_key)
            label = figure_label.format(where="Chatroom's")
            cells = [label, _short(data, key), _cell(mine), _cell(by_node), _cell(bare)]
            lines.append(_row([*cells, _ratio(mine, by_node), _ratio(mine, bare)]))
    return "\n".join(lines)


def _short(data, key):
    spec = data["servers"][key]["spec"]
    store = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "none": "no store"}.get(
        spec["store"], spec["store"]
    )
    return f"{spec['worker']}, {store}"


def peers_table(data):
    """The headline figures of every server side by side."""
    keys = list(data["servers"])
    header = "| figure | " + " | ".join(_label(data, key) for key in keys) + " |"
    lines = [header, "|---|" + "--:|" * len(keys)]
    for figure_key, figure_label in FIGURES:
        cells = [_cell(figures(data["servers"][key]).get(figure_key)) for key in keys]
        if figure_key.endswith("_database_cpu") and set(cells) == {"-"}:
            continue  # no server of this run had a database of its own to watch
        lines.append(_row([figure_label.format(where="its own"), *cells]))
    return "\n".join(lines)


def load_matrix(data, kind):
    """p99 (ms) of every server at every offered rate it was run at: comparison at equal load."""
    keys = [key for key, record in data["servers"].items() if record.get(kind)]
    rates = sorted({step["rate"] for key in keys for step in data["servers"][key][kind]["steps"]})
    if not rates:
        return ""
    unit = "deliveries/s" if kind == "fanout" else "messages/s"
    lines = [
        f"| offered msgs/s (≈ {unit}) | " + " | ".join(_label(data, key) for key in keys) + " |",
        "|--:|" + "--:|" * len(keys),
    ]
    fanout = data["plan"]["clients"] - 1 if kind == "fanout" else 1
    for rate in rates:
        cells = []
        for key in keys:
            step = next((s for s in data["servers"][key][kind]["steps"] if s["rate"] == rate), None)
            if step is None:
                cells.append("")
            else:
                mark = "" if step["passed"] else " ✗"
                cells.append(f"{_number(step['latency_ms'].get('p99'))}{mark}")
        lines.append(f"| {rate:g} ({_number(rate * fanout)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def steps_table(steps):
    """Every step of one ladder."""
    lines = [
        "| msgs/s | offered deliv/s | received deliv/s | p50 | p95 | p99 | max (ms) | expected | received"
        " | lost | late | errors | server CPU | server RSS | generator CPU (loop) | other load core0/1 | |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for step in steps:
        latency = step["latency_ms"]
        usage = step["usage"]
        errors = ", ".join(f"{code} {count}" for code, count in step["errors"].items()) or "0"
        if step["unacked"]:
            errors += f", unacked {step['unacked']}"
        for name in ("duplicates", "reordered", "misrouted"):
            if step.get(name):
                errors += f", {name} {step[name]:,}"
        verdict = "✓" if step["passed"] else "✗"
        if step["generator_saturated"]:
            verdict += " gen"
        if step.get("retry_of"):
            verdict += " ↻"
        cells = [
            f"{step['rate']:g}",
            _number(step["offered_deliveries_s"]),
            _number(step["received_deliveries_s"]),
            *(_number(latency.get(name)) for name in ("p50", "p95", "p99", "max")),
            f"{step['expected']:,}",
            f"{step['received']:,}",
            f"{step.get('lost_final', step['lost']):,}",
            f"{step.get('late', 0):,}",
            errors,
            f"{usage['server']:.0f}%",
            f"{step['server_rss_mb']:.0f} MB",
            f"{usage['generator']:.0f}% ({step.get('generator_loop_utilization', 0):.2f})",
            f"{_interference(step, 0):.0f}% / {_interference(step, 1):.0f}%",
            verdict,
        ]
        lines.append(_row(cells))
    return "\n".join(lines)


def _interference(step, core):
    """CPU% of ``core`` used by anything but the process pinned to it (other work on the machine)."""
    usage = step["usage"]
    own = usage["server"] if core == 0 else usage["generator"]
    return max(0.0, usage.get(f"cpu{core}_busy", 0) - own)


def disturbed_steps(data, limit=15):
    """How many steps shared the server's core with more than ``limit``% of other work."""
    steps = [
        step
        for record in data["servers"].values()
        for kind in KIND_TITLES
        for step in every_step(record, kind)
    ]
    return sum(1 for step in steps if _interference(step, 0) > limit), len(steps)


def correctness(data):
    """Every delivery accounted for: expected, received, lost at the end, duplicated, out of order."""
    totals = dict.fromkeys(("expected", "lost_final", "duplicates", "misrouted"), 0)
    reordered = []
    for key, record in data["servers"].items():
        steps = [step for kind in KIND_TITLES for step in every_step(record, kind)]
        for step in steps:
            for name in totals:
                totals[name] += step.get(name, 0)
        count = sum(step.get("reordered", 0) for step in steps)
        if count:
            reordered.append(f"{_label(data, key)} {count:,}")
    extra = sum(record.get("stray_receipts", 0) for record in data["servers"].values())
    text = (
        f"{totals['expected']:,} expected, {totals['expected'] - totals['lost_final']:,} received by the end"
        f" of the run; lost"
        f" {totals['lost_final']:,}, duplicated {totals['duplicates']:,}, misrouted {totals['misrouted']:,},"
        f" stray {extra:,}"
    )
    if reordered:
        text += "; out of their sender's order (each gthread request runs in its own thread): " + ", ".join(
            reordered
        )
    return text


def rounds_table(data):
    """Every round's ceiling of every server, the median kept, and each round's Chatroom/bare ratio."""
    servers = data["servers"]
    rows = []
    for key, record in servers.items():
        for kind, title in KIND_TITLES.items():
            block = record.get(kind) or {}
            ceilings = block.get("ceilings")
            if not ceilings:
                continue
            by_round = " / ".join("-" if value is None else _number(value) for value in ceilings)
            kept = f"{_number(ceiling(block))} (round {block['round']})"
            baseline = servers.get(record["spec"].get("baseline") or "", {})
            ratios = paired_ratios(record, baseline, kind)
            paired = " / ".join("-" if ratio is None else f"{ratio:.2f}" for ratio in ratios)
            middle = median(ratios)
            cells = [_label(data, key), title.lower(), by_round, kept, paired or "", _ratio_text(middle)]
            rows.append(_row(cells))
    if not rows:
        return ""
    header = [
        "| server | scenario | ceiling by round (deliveries/s) | median round | Chatroom/bare by round"
        " | median of those |",
        "|---|---|--:|--:|--:|--:|",
    ]
    return "\n".join(header + rows)


def _ratio_text(ratio):
    return "" if ratio is None else f"{ratio:.2f}x"


def connections_table(data):
    """The idle-connection scenario of every server."""
    lines = [
        "| server | connected | seconds | connects/s | connect p50 / p99 (ms) | presence settled (s)"
        " | server CPU (s) | RSS before → after (MB) | KB/connection | permessage-deflate |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for key, record in data["servers"].items():
        idle = record.get("connections")
        if not idle:
            continue
        connect = idle["connect_ms"]
        deflate = "yes" if idle.get("extensions") and "deflate" in idle["extensions"] else "no"
        cells = [
            _label(data, key),
            f"{idle['connected']:,}/{idle['clients']:,}",
            f"{idle['connect_s']:.2f}",
            _number(idle["connects_per_s"]),
            f"{_number(connect.get('p50'))} / {_number(connect.get('p99'))}",
            f"{idle['settle_s']:.2f}",
            f"{idle['server_cpu_s']:.1f}",
            f"{idle['rss_before_mb']:.0f} → {idle['rss_after_mb']:.0f}",
            _number(idle["kb_per_connection"]),
            deflate,
        ]
        lines.append(_row(cells))
    return "\n".join(lines)


def machine_line(data):
    """One sentence: the machine and how the processes were placed."""
    machine = data["machine"]
    placement = (
        "server pinned to core 0, Node load generator to core 1 (taskset)"
        if data["pinned"]
        else "server and generator not pinned"
    )
    return (
        f"{machine['nproc']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}; {placement}"
    )


def settings_line(data):
    """Clients, senders, message size, steps."""
    plan = data["plan"]
    return (
        f"{plan['clients']} clients over websocket, {plan['senders']} fan-out senders, "
        f"{plan['size']}-byte messages, {plan['step_s']:g} s per step (rates x{plan['factor']:g}"
        f"{', then bisected' if plan['refine'] else ''}), {plan['idle']:,} idle clients; "
        f"{data['rate_limit']}"
    )


def markdown(data):
    """The whole report."""
    versions_text = ", ".join(f"{name} {version}" for name, version in data["versions"].items() if version)
    parts = [
        f"# Chatroom benchmark, {data['finished_at']}",
        "",
        f"- Machine: {machine_line(data)}.",
        f"- Command: `{data['command']}` ({data['plan']['name']} run, {data['duration_s'] / 60:.1f} min).",
        f"- Load: {settings_line(data)}.",
        f"- Versions: {versions_text}.",
        f"- A step passes when p99 send→receipt < {P99_LIMIT_MS} ms, nothing is lost or refused, and the"
        " generator offered ≥ 95% of the rate. `≥` marks a figure the generator (not the server) limited.",
    ]
    parts += [f"- Note: {note}" for note in data["notes"]]
    disturbed, total = disturbed_steps(data)
    if data["pinned"] and disturbed:
        parts.append(
            f"- **Warning**: in {disturbed} of {total} steps other processes used more than 15% of the"
            " server's core (column 'other load'): those figures understate the server."
        )
    parts.append(f"- Deliveries: {correctness(data)}.")
    deflate = [
        _label(data, key)
        for key, record in data["servers"].items()
        if "deflate" in (record.get("extensions") or "")
    ]
    parts.append(
        "- permessage-deflate (offered by the generator, as by browsers) was accepted by: "
        + (", ".join(deflate) if deflate else "none of the servers")
        + "."
    )
    for key, record in data["servers"].items():
        if record.get("error"):
            parts.append(f"- **{key} failed**: {record['error']}")
    parts += ["", "## Summary: Chatroom against its peers", "", summary_table(data)]
    table = rounds_table(data)
    if table:
        parts += ["", f"## Rounds ({data['rounds']}, interleaved; bench/rounds.py)", "", table]
    parts += ["", "## Every server", "", peers_table(data)]
    for kind, title in KIND_TITLES.items():
        matrix = load_matrix(data, kind)
        if matrix:
            parts += ["", f"## {title}: p99 (ms) at each offered rate (✗ = step failed)", "", matrix]
    if any(record.get("connections") for record in data["servers"].values()):
        parts += ["", "## Idle connections", "", connections_table(data)]
    collected = [(key, record["gc"]) for key, record in data["servers"].items() if record.get("gc")]
    if collected:
        parts += [
            "",
            "## Garbage collection in the workers during the message steps (bench/gc_probe.py)",
            "",
            "| server | gc.freeze() | full collections | median (ms) | longest (ms) | others > 5 ms |",
            "|---|:-:|--:|--:|--:|--:|",
        ]
        for key, gc in collected:
            cells = [_label(data, key), "yes" if gc["frozen"] else "no", str(gc["full_collections"])]
            cells += [_number(gc["full_median_ms"]), _number(gc["full_max_ms"]), str(gc["other_over_5ms"])]
            parts.append(_row(cells))
    profiled = [(key, record) for key, record in data["servers"].items() if record.get("profile")]
    if profiled:
        parts += ["", "## Hot spots (py-spy samples during the message steps; figures taken with it running)"]
        for key, record in profiled:
            profile = record["profile"]
            parts += [
                "",
                f"### {_label(data, key)} ({profile['samples']:,} samples, `{record['profile_file']}`)",
                "",
            ]
            parts += ["| self % | function |", "|--:|---|"]
            parts += [f"| {share} | `{frame}` |" for frame, share in profile["self"]]
            parts += ["", "| on stack % | function |", "|--:|---|"]
            parts += [f"| {share} | `{frame}` |" for frame, share in profile["inclusive"]]
    parts += ["", "## Every step"]
    for key, record in data["servers"].items():
        for kind, title in KIND_TITLES.items():
            if record.get(kind):
                parts += [
                    "",
                    f"### {_label(data, key)}: {title.lower()}",
                    "",
                    steps_table(record[kind]["steps"]),
                ]
        if record.get("command"):
            parts += ["", f"`{record['command']}`"]
    return "\n".join(parts) + "\n"


README_FIGURES = [
    ("fanout_max", "room fan-out: deliveries/s with p99 < 100 ms"),
    ("private_max", "private messages: messages/s with p99 < 100 ms"),
    ("connect_s", "seconds to connect the idle clients"),
    ("kb_per_connection", "server RSS per idle connection (KB)"),
]


def compact_table(data):
    """Each server in a column, Chatroom's cells with their ratios to Node (N) and bare (B)."""
    servers = data["servers"]
    keys = _chatroom_keys(data) + [key for key in PEERS if key in servers]
    lines = [_row(["", *(_label(data, key) for key in keys)]), "|---|" + "--:|" * len(keys)]
    for figure_key, label in README_FIGURES:
        cells = []
        for key in keys:
            mine = figures(servers[key]).get(figure_key)
            cell = _cell(mine)
            baseline = servers[key]["spec"]["baseline"]
            if mine and baseline:
                by_node = figures(servers.get("node", {})).get(figure_key)
                bare = figures(servers.get(baseline, {})).get(figure_key)
                cell += f" ({_ratio(mine, by_node)} N, {_ratio(mine, bare)} B)"
            cells.append(cell)
        lines.append(_row([label, *cells]))
    return "\n".join(lines)


def readme_section(data):
    """The README's Performance section, from the latest results."""
    parts = [
        "## Performance",
        "",
        "`make bench` (about 20 minutes, 22 with PostgreSQL; `BENCH_QUICK=1 make bench`, about 10,"
        " for a short check) measures Chatroom on loopback against a minimal Node socket.io 4.8"
        " server speaking the same protocol and a bare Flask-SocketIO app (no accounts, checks or"
        " storage) under the same gunicorn worker: room fan-out"
        f" ({data['plan']['clients']} clients, {data['plan']['senders']} senders to everyone),"
        " private messages (each client to a random other), idle connections, each with SQLite,"
        " with the store switched off (`CHAT_BENCH_NO_STORE=1`, benchmark only) and, when"
        " `DATABASE_URL` names a PostgreSQL server, on PostgreSQL, whose own CPU per message is"
        " reported beside the server's. The per-user rate limit is off (`CHAT_RATE_LIMIT=0`)."
        " Results, every step and a chart of p99 against offered load land in `bench/results/`"
        " (see `bench/README.md`).",
        "",
        f"Latest run ({data['finished_at'][:10]}, {data['plan']['name']}): {machine_line(data)}."
        f" {settings_line(data)}.",
        "",
        compact_table(data),
        "",
        f"A rate passes while p99 send→receipt stays under {P99_LIMIT_MS} ms with nothing lost or refused."
        " In parentheses: Chatroom's figure divided by the Node peer's (N) and by the bare app's under"
        " the same worker (B). `≥` marks a figure where the Node load generator, not the server, ran out"
        " of CPU (so the Node figures are lower bounds), or where not every idle client had connected by"
        " the deadline. Latency and CPU per delivery at equal load, every step and the chart:"
        " `bench/results/latest.md`, `bench/results/latest.png`.",
    ]
    table = rounds_table(data)
    if table:
        parts += [
            "",
            f"Each figure above is from the server's median round of {data['rounds']}, run interleaved"
            " (`--rounds`): every round's ceiling, and each round's Chatroom/bare ratio (the variant and its"
            " floor minutes apart), are below.",
            "",
            table,
        ]
    return "\n".join(parts) + "\n"


def summary_text(data):
    """What the command prints at the end."""
    return "\n".join(["", summary_table(data), ""])


# ---------------------------------------------------------------- chart


def chart(data, path):
    """p99 latency against offered deliveries/s, one panel per scenario, one line per server."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    kinds = [kind for kind in KIND_TITLES if any(record.get(kind) for record in data["servers"].values())]
    if not kinds:
        return None
    figure, axes = plt.subplots(1, len(kinds), figsize=(7 * len(kinds), 5), squeeze=False)
    for axis, kind in zip(axes[0], kinds, strict=True):
        for record in data["servers"].values():
            if not record.get(kind):
                continue
            steps = sorted(record[kind]["steps"], key=lambda step: step["offered_deliveries_s"])
            points = [
                (s["offered_deliveries_s"], s["latency_ms"]["p99"])
                for s in steps
                if s["latency_ms"].get("count")
            ]
            if not points:
                continue
            style = "-" if record["spec"]["kind"] == "chatroom" else "--"
            if record["spec"]["store"] in ("none", "postgresql"):
                style = ":"
            axis.plot(
                *zip(*points, strict=True), style, marker="o", markersize=3, label=record["spec"]["label"]
            )
        axis.axhline(P99_LIMIT_MS, color="grey", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("offered deliveries/s")
        axis.set_ylabel("p99 send→receipt (ms)")
        axis.set_title(f"{KIND_TITLES[kind]} ({data['plan']['clients']} clients)")
        axis.grid(True, which="both", linewidth=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(
        f"Chatroom benchmark {data['finished_at'][:16]}: {data['machine']['cpu_model']}", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ---------------------------------------------------------------- files


def write_all(data, directory, stamp):
    """Write the timestamped files and the latest.* copies; return their paths."""
    directory = Path(directory)
    text = markdown(data)
    paths = {}
    for name in (stamp, "latest"):
        (directory / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
        (directory / f"{name}.md").write_text(text)
    paths["json"] = directory / f"{stamp}.json"
    paths["markdown"] = directory / f"{stamp}.md"
    chart_path = chart(data, directory / f"{stamp}.png")
    if chart_path:
        (directory / "latest.png").write_bytes(chart_path.read_bytes())
        paths["chart"] = chart_path
    (directory / "README-performance.md").write_text(readme_section(data))
    paths["readme"] = directory / "README-performance.md"
    paths["latest"] = directory / "latest.md"
    return paths


if __name__ == "__main__":
    # Re-render the latest results (after editing this module): python -m bench.report [results.json]
    import sys

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "bench/results/latest.json"
    results = json.loads(source.read_text())
    print(write_all(results, source.parent, source.stem))
