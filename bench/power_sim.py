"""Replay a bursty day through the real power policy with a simulated clock; report GPU hours and waits.

    .venv/bin/python bench/power_sim.py            # a table, with ratios against the baselines
    .venv/bin/python bench/power_sim.py --json     # one JSON object

The policy is `dashboard.compute.policy.decide`, the code the site runs; only the clock, the
instance (boot, stop) and the worker (items per second) are simulated. The console calls the
policy on each submission (when no instance is on) and every `--tick-s` seconds, as here.

Measures
- gpu_hours: time instances spend pending or running (what EC2 bills, plus the boot).
- always_on_gpu_hours: the fleet on all day. ideal_gpu_hours: busy time plus one boot per burst,
  an oracle that knows when each burst comes and ends.
- wait: from an item's arrival until an instance is running to serve it: the delay power
  management adds. Queueing behind earlier items is the same with an always-on instance and is
  reported separately as latency for both.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.compute.base import PENDING, RUNNING, STOPPED, STOPPING
from dashboard.compute.policy import InstanceView, Memory, PolicyConfig, Snapshot, decide

DAY = 86_400


@dataclass
class Burst:
    start: int
    size: int
    rate: float  # arrivals per second while the burst lasts


def bursty_day(seed: int) -> list[Burst]:
    """A quiet night with a few lone requests, a working day of batch uploads, a light evening."""
    rng = random.Random(seed)
    bursts = [Burst(rng.randrange(h * 3600, (h + 1) * 3600), 1, 1.0) for h in (1, 3, 5)]
    t = 8 * 3600
    for _ in range(12):
        size = int(math.exp(rng.uniform(math.log(2_000), math.log(60_000))))
        bursts.append(Burst(t, size, 40.0))
        t += int(size / 25) + rng.randrange(15 * 60, 45 * 60)  # drained, then a quiet gap
    t = max(t, 20 * 3600)
    for _ in range(3):
        bursts.append(Burst(t, rng.randrange(50, 500), 5.0))
        t += rng.randrange(40 * 60, 70 * 60)
    return sorted(bursts, key=lambda b: b.start)


def arrivals_per_second(bursts: list[Burst]) -> dict[int, int]:
    per_second: dict[int, int] = {}
    for burst in bursts:
        for n in range(burst.size):
            second = burst.start + int(n / burst.rate)
            per_second[second] = per_second.get(second, 0) + 1
    return per_second


@dataclass
class SimInstance:
    id: str
    state: str = STOPPED
    until: float = 0.0  # when a pending boot or a stop completes


@dataclass
class Result:
    gpu_seconds: float = 0.0
    busy_seconds: float = 0.0
    starts: int = 0
    waits: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def simulate(
    bursts: list[Burst],
    *,
    instances: int,
    boot_s: float,
    stop_s: float,
    rate: float,
    tick_s: int,
    config: PolicyConfig | None,
    horizon: int = DAY,
) -> Result:
    """One simulated day. `config=None` is the always-on baseline."""
    arrivals = arrivals_per_second(bursts)
    fleet = [SimInstance(f"sim-{n}", RUNNING if config is None else STOPPED) for n in range(instances)]
    memory = Memory()
    queue: deque[int] = deque()  # arrival second of each waiting item
    awaiting: list[int] = []  # arrivals that found no running instance
    result = Result()
    busy_ids: set[str] = set()
    running_jobs = 0

    def step_policy(now: int) -> None:
        nonlocal memory
        views = tuple(InstanceView(id=i.id, state=i.state, busy=i.id in busy_ids) for i in fleet)
        snapshot = Snapshot(now=now, instances=views, queued=len(queue), running=running_jobs)
        decision, memory = decide(snapshot, config, memory)
        for instance in fleet:
            if instance.id in decision.start and instance.state == STOPPED:
                instance.state, instance.until = PENDING, now + boot_s
                result.starts += 1
            elif instance.id in decision.stop and instance.state in {PENDING, RUNNING}:
                instance.state, instance.until = STOPPING, now + stop_s

    end = horizon
    now = 0
    while now < end or queue:
        for instance in fleet:  # state changes that complete this second
            if instance.state == PENDING and now >= instance.until:
                instance.state = RUNNING
            elif instance.state == STOPPING and now >= instance.until:
                instance.state = STOPPED
        running = [i for i in fleet if i.state == RUNNING]
        if running and awaiting:
            result.waits.extend(now - a for a in awaiting)
            awaiting.clear()
        arrived = arrivals.get(now, 0)
        for _ in range(arrived):
            queue.append(now)
            if running:
                result.waits.append(0.0)
            else:
                awaiting.append(now)
        if config is not None:
            on = any(i.state in {PENDING, RUNNING} for i in fleet)
            if (arrived and not on) or now % tick_s == 0:
                step_policy(now)
        # Work this second: each running instance serves up to `rate` items.
        busy_ids = set()
        served = 0
        for instance in running:
            take = min(len(queue), int(rate))
            for _ in range(take):
                result.latencies.append(now + 1 - queue.popleft())
            if take:
                busy_ids.add(instance.id)
                result.busy_seconds += take / rate
                served += take
        running_jobs = len(busy_ids)
        result.gpu_seconds += sum(1 for i in fleet if i.state in {PENDING, RUNNING})
        now += 1
        if now > end + DAY:
            break
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--boot-s", type=float, default=90.0, help="instance boot plus model load")
    parser.add_argument("--stop-s", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=25.0, help="items per second one instance serves")
    parser.add_argument("--tick-s", type=int, default=10, help="POWER_TICK_SECONDS")
    parser.add_argument("--idle-stop-after", type=float, default=90.0, help="IDLE_STOP_AFTER")
    parser.add_argument("--backlog-per-instance", type=int, default=200, help="POWER_BACKLOG_PER_INSTANCE")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    bursts = bursty_day(args.seed)
    config = PolicyConfig(idle_stop_after=args.idle_stop_after, backlog_per_instance=args.backlog_per_instance)
    common = {
        "instances": args.instances,
        "boot_s": args.boot_s,
        "stop_s": args.stop_s,
        "rate": args.rate,
        "tick_s": args.tick_s,
    }
    policy = simulate(bursts, config=config, **common)
    always = simulate(bursts, config=None, **common)
    ideal_seconds = policy.busy_seconds + args.boot_s * len(bursts)
    report = {
        "gpu_hours": round(policy.gpu_seconds / 3600, 3),
        "always_on_gpu_hours": round(max(always.gpu_seconds, DAY * args.instances) / 3600, 3),
        "ideal_gpu_hours": round(ideal_seconds / 3600, 3),
        "p50_wait_s": percentile(policy.waits, 50),
        "p95_wait_s": percentile(policy.waits, 95),
        "boot_s": args.boot_s,
        "starts": policy.starts,
        "bursts": len(bursts),
        "items": sum(b.size for b in bursts),
        "busy_hours": round(policy.busy_seconds / 3600, 3),
        "p95_latency_s": percentile(policy.latencies, 95),
        "always_on_p95_latency_s": percentile(always.latencies, 95),
        "idle_stop_after_s": args.idle_stop_after,
        "tick_s": args.tick_s,
        "seed": args.seed,
    }
    checks = {
        "gpu_hours <= 1.2 x ideal": report["gpu_hours"] <= 1.2 * report["ideal_gpu_hours"],
        "gpu_hours <= 25% of always-on": report["gpu_hours"] <= 0.25 * report["always_on_gpu_hours"],
        "p95 wait <= boot + 10 s": report["p95_wait_s"] <= args.boot_s + 10,
        "starts <= bursts + 10%": report["starts"] <= math.floor(len(bursts) * 1.1),
    }
    report["targets_met"] = all(checks.values())
    if args.json:
        print(json.dumps(report))
        return 0 if report["targets_met"] else 1
    print(
        f"bursty day (seed {args.seed}): {report['items']:,} items in {len(bursts)} bursts, "
        f"{report['busy_hours']:.2f} h of GPU work; boot {args.boot_s:.0f} s, idle stop {args.idle_stop_after:.0f} s"
    )
    gpu, always_on, ideal = report["gpu_hours"], report["always_on_gpu_hours"], report["ideal_gpu_hours"]
    print(f"  GPU hours          {gpu:8.2f}")
    print(f"  always-on          {always_on:8.2f}   ratio {gpu / always_on:.3f}")
    print(f"  ideal              {ideal:8.2f}   ratio {gpu / ideal:.3f}")
    print(f"  wait p50 / p95     {report['p50_wait_s']:.0f} / {report['p95_wait_s']:.0f} s (boot {args.boot_s:.0f} s)")
    print(f"  starts             {report['starts']} for {len(bursts)} bursts")
    latency, latency_on = report["p95_latency_s"], report["always_on_p95_latency_s"]
    print(f"  latency p95        {latency:.0f} s (always-on: {latency_on:.0f} s)")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if report["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
