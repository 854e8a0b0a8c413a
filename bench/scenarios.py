"""The scenarios: stepped message load (room fan-out, private messages) and idle connections."""

import math
import time
from dataclasses import asdict, dataclass

from .procstat import Watch, load_average, wait_for_quiet

P99_LIMIT_MS = 100
# A step whose generator used this much of its core (or event loop) may be measuring the generator.
GENERATOR_SATURATED = 90
# A failed step during which other processes used more than this % of either core is run again.
INTERFERENCE = 15
# After connecting: no event for this long means the presence notices have all arrived.
QUIET_S = 1


@dataclass(frozen=True)
class Plan:
    """How long and how hard: ``full`` for the record, ``quick`` to check the machinery."""

    name: str
    clients: int = 200
    senders: int = 5
    size: int = 64
    step_s: float = 4.0
    drain_s: float = 5.0
    factor: float = 2.0
    max_steps: int = 12
    # Bisection steps between the last passing and the first failing rate: three narrow a
    # doubling to about 9% (2 ** (1/8)), fine enough to tell 80% of a floor from 70%.
    refine: int = 3
    fixed: float | None = None  # one step at this rate instead of a ladder (bench.run --fixed)
    fanout_start: float = 10.0  # messages/s to everyone (x clients-1 deliveries)
    private_start: float = 250.0  # private messages/s (1 delivery each)
    # Every join is announced to everyone: connecting N clients costs O(N²) deliveries,
    # minutes of server CPU at 2,000 under gthread. --idle 2000 when there is time.
    idle: int = 1000
    warm: int = 10  # sockets connected before the idle baseline is taken
    connect_concurrency: int = 50
    connect_deadline_s: int = 60  # no new handshake after this: the connections scenario stays bounded

    def as_dict(self):
        """The plan as recorded in the results."""
        return asdict(self)


FULL = Plan("full")
QUICK = Plan("quick", step_s=2.0, drain_s=3.0, refine=0, max_steps=10, idle=500)


def _passed(result, rate):
    """A step passes when nothing was lost or refused and p99 stayed under the limit."""
    latency = result["latency_ms"]
    return (
        latency.get("count", 0) > 0
        and latency["p99"] < P99_LIMIT_MS
        and result["lost"] == 0
        and result["ack_errors"] == 0
        and result["unacked"] == 0
        and result["misrouted"] == 0
        and result["duplicates"] == 0
        and result["offered_msgs_s"] >= 0.95 * rate
    )


class StepRunner:
    """Runs numbered steps on one generator, adding the server's and generator's CPU and RSS."""

    def __init__(self, generator, watch, plan, log, retry=True):
        self.generator = generator
        self.watch = watch
        self.plan = plan
        self.log = log
        self.retry = retry
        self.next_id = 1

    def run(self, kind, rate):
        """One step at ``rate``; a failure while other work loaded the machine is retried once."""
        result = self._run(kind, rate)
        if self.retry and not result["passed"] and result["interference"] > INTERFERENCE:
            waited, busy = wait_for_quiet(longest=20)
            self.log(
                f"  other load {result['interference']:.0f}% in that step: again (waited {waited} s, {busy})"
            )
            retry = self._run(kind, rate)
            retry["retry_of"] = result
            result = retry
        return result

    def _run(self, kind, rate):
        """One step at ``rate`` messages/s; returns its result, with ``passed``."""
        samples = {}
        self.generator.hooks = {
            "step_begin": lambda _event: samples.update(begin=self.watch.snapshot()),
            "step_sent": lambda _event: samples.update(sent=self.watch.snapshot(), rss=self.watch.rss()),
        }
        step_id, self.next_id = self.next_id, self.next_id + 1
        result = self.generator.request(
            "step",
            "step_result",
            self.plan.step_s + self.plan.drain_s + 60,
            id=step_id,
            kind=kind,
            rate=rate,
            duration_s=self.plan.step_s,
            senders=self.plan.senders,
            size=self.plan.size,
            drain_s=self.plan.drain_s,
        )
        self.generator.hooks = {}
        result["usage"] = Watch.usage(samples["begin"], samples["sent"])
        result["server_rss_mb"] = round(samples["rss"] / 2**20, 1)
        result["load_average"] = load_average()
        result["passed"] = _passed(result, rate)
        usage = result["usage"]
        result["generator_saturated"] = (
            usage["generator"] >= GENERATOR_SATURATED
            or 100 * result.get("generator_loop_utilization", 0) >= GENERATOR_SATURATED
        )
        result["interference"] = _interference(usage)
        self.log(_step_line(result))
        if not result["passed"]:
            # Let a backlog drain before the next step, so it does not start loaded.
            self.generator.request("quiesce", "quiet", 90, quiet_ms=500, max_s=60)
        return result

    def ladder(self, kind):
        """Step the rate up by ``factor`` until a step fails, then bisect towards the limit."""
        if self.plan.fixed is not None:
            return [self.run(kind, self.plan.fixed)]
        results = []
        rates = ladder_rates(self.plan, kind)
        rate = next(rates)
        while True:
            result = self.run(kind, rate)
            results.append(result)
            try:
                rate = rates.send(result["passed"])
            except StopIteration:
                return results


def ladder_rates(plan, kind):
    """A ladder's rates, one at a time: send it whether each step passed; it stops when done.

    Up by ``factor`` from the scenario's start until a step fails (below the
    start when the first fails), then ``refine`` bisection steps between the
    last passing and the first failing rate. A generator, so that two ladders
    can take turns step by step (``bench.twin``).
    """
    start = plan.fanout_start if kind == "fanout" else plan.private_start
    best, first_fail = None, None
    rate = start
    for _ in range(plan.max_steps):
        if not (yield rate):
            first_fail = rate
            break
        best = rate
        rate = round(rate * plan.factor, 1)
    if best is None:
        # Even the first rate failed: look below it.
        rate = start
        for _ in range(3):
            rate = round(rate / plan.factor, 1)
            if (yield rate):
                best = rate
                break
            first_fail = rate
    if best is not None and first_fail is not None:
        for _ in range(plan.refine):
            rate = round(math.sqrt(best * first_fail), 1)
            if (yield rate):
                best = rate
            else:
                first_fail = rate


def _interference(usage):
    """The busiest core's use by other work than the server and the generator (%).

    The database's backends (PostgreSQL) are not other work, but which core
    they ran on is not known: with them, both cores' other use together.
    """
    core0 = usage.get("cpu0_busy", 0) - usage["server"]
    core1 = usage.get("cpu1_busy", 0) - usage["generator"]
    if "database" in usage:
        return max(core0 + core1 - usage["database"], 0)
    return max(core0, core1, 0)


def _step_line(result):
    latency = result["latency_ms"]
    usage = result["usage"]
    verdict = "pass" if result["passed"] else "FAIL"
    return (
        f"  {result['kind']:<7} {result['rate']:>8g} msg/s  offered {result['offered_deliveries_s']:>9.0f}/s"
        f"  received {result['received_deliveries_s']:>9.0f}/s  p50 {latency.get('p50', 0):7.1f}"
        f"  p99 {latency.get('p99', 0):8.1f}  max {latency.get('max', 0):8.1f} ms"
        f"  lost {result['lost']}  err {result['ack_errors']}  server {usage['server']:5.1f}%"
        f"  gen {usage['generator']:5.1f}% (loop {result['generator_loop_utilization']:.2f})"
        + (f"  db {usage['database']:5.1f}%" if "database" in usage else "")
        + f"  others {result['interference']:4.0f}%  {verdict}"
        + "".join(
            f"  {name} {result[name]}" for name in ("duplicates", "reordered", "misrouted") if result[name]
        )
    )


def best_step(results):
    """The passing step with the highest received deliveries/s (None when none passed)."""
    passing = [result for result in results if result["passed"]]
    return max(passing, key=lambda result: result["received_deliveries_s"], default=None)


def connections(generator, watch, server_url, specs, auth, plan, log):
    """Connect ``plan.warm`` sockets, then ``len(specs) - warm`` idle ones; time and memory."""
    warm, idle = specs[: plan.warm], specs[plan.warm :]
    timeout = 30_000
    first = generator.request(
        "connect",
        "connected",
        120,
        url=server_url,
        clients=warm,
        auth=auth,
        concurrency=10,
        timeout_ms=timeout,
    )
    generator.request("quiesce", "quiet", 60, quiet_ms=500, max_s=30)
    time.sleep(1)
    rss_before = watch.rss()
    before = watch.snapshot()
    connected = generator.request(
        "connect",
        "connected",
        plan.connect_deadline_s + 120,
        url=server_url,
        clients=idle,
        auth=auth,
        concurrency=plan.connect_concurrency,
        timeout_ms=timeout,
        deadline_ms=plan.connect_deadline_s * 1000,
    )
    connected_at = watch.snapshot()
    quiet = generator.request("quiesce", "quiet", 400, quiet_ms=QUIET_S * 1000, max_s=300)
    settled = watch.snapshot()
    time.sleep(1)
    rss_after = watch.rss()
    count = connected["count"]
    result = {
        "warm": first["count"],
        "clients": len(idle),
        "connected": count,
        "failed": connected["failed"],
        "abandoned": connected["abandoned"],
        "deadline_s": plan.connect_deadline_s,
        "errors": connected["errors"],
        "connect_s": round(connected["elapsed_ms"] / 1000, 3),
        "connects_per_s": round(count / max(connected["elapsed_ms"] / 1000, 1e-3), 1),
        "connect_ms": connected["connect_ms"],
        # Presence notices keep flowing after the last connect: when they stopped.
        "settle_s": round(settled.at - before.at - (QUIET_S if quiet["quiet"] else 0), 3),
        "usage_connecting": Watch.usage(before, connected_at),
        "server_cpu_s": round(settled.cpu["server"] - before.cpu["server"], 3),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "kb_per_connection": round((rss_after - rss_before) / 1024 / count, 1) if count else None,
        "extensions": connected["extensions"],
        "load_average": load_average(),
    }
    log(
        f"  connections: {count}/{len(idle)} in {result['connect_s']} s"
        f" ({result['connects_per_s']}/s, p99 {connected['connect_ms'].get('p99', 0):.0f} ms),"
        f" settled after {result['settle_s']} s, {result['kb_per_connection']} KB/connection,"
        f" server CPU {result['server_cpu_s']} s"
    )
    return result
