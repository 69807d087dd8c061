"""Replay a bursty day through the real power policies with a simulated clock; report GPU and endpoint hours.

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

Endpoints (`dashboard.endpoints.policy.decide`, the code `power_tick` runs): the same day's Generate
traffic on one real-time endpoint: a few lone requests at night, working-day sessions, a short evening
one. A request that finds it at zero starts it (billed from `Creating`, `--endpoint-start-s`) and waits;
every `--tick-s` the policy scales it to zero once idle for `--endpoint-idle-s`, never sooner than
`--endpoint-min-in-service-s` after a start.
- endpoint_hours: time billed (Creating or InService). endpoint_always_on_hours: 24 h.
- endpoint_ideal_hours: the offline optimum for this trace: up while serving, and across each gap
  either up (the gap) or down and back just in time (one start), whichever is cheaper.
- endpoint_starts, against `endpoint_stretches`: groups of requests whose gaps are all shorter than the
  idle time, each of which needs one start at most (more would be flapping).
"""

from __future__ import annotations

import argparse
import itertools
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
from dashboard.endpoints import policy as endpoint_policy
from dashboard.endpoints.base import CREATING, DELETING, IN_SERVICE, SCALED_TO_ZERO

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


def generation_day(seed: int) -> list[int]:
    """Generate requests over the day, one per second at most: lone ones at night, sessions by day."""
    rng = random.Random(seed + 10_007)  # its own stream: the batch day above stays what it was
    requests = {rng.randrange(h * 3600, (h + 1) * 3600) for h in (2, 4)}

    def session(start: float, minutes: tuple[int, int], mean_gap_s: float) -> float:
        end = start + rng.randrange(minutes[0] * 60, minutes[1] * 60)
        t = start
        while t < end:
            requests.add(int(t))
            t += rng.expovariate(1 / mean_gap_s)
        return end

    t = 9 * 3600 + rng.randrange(0, 1800)
    for _ in range(4):
        t = session(t, (20, 60), 45.0) + rng.randrange(60 * 60, 120 * 60)
    session(max(t, 20 * 3600), (10, 25), 60.0)
    return sorted(requests)


@dataclass
class EndpointResult:
    billed_seconds: float = 0.0
    starts: int = 0
    scale_downs: int = 0
    flaps: int = 0  # scale-downs sooner than min_in_service after a start
    waits: list[float] = field(default_factory=list)


def simulate_endpoint(
    requests: list[int],
    *,
    start_s: float,
    delete_s: float,
    tick_s: int,
    idle_after: float,
    min_in_service: float,
    horizon: int = DAY,
) -> EndpointResult:
    """One simulated day of one real-time endpoint under the endpoint policy."""
    arrivals = set(requests)
    config = endpoint_policy.PolicyConfig(min_in_service=min_in_service)
    memory = endpoint_policy.Memory()
    state, until = SCALED_TO_ZERO, 0.0
    last_invocation: float | None = None
    started_at: float | None = None
    waiting: list[int] = []
    result = EndpointResult()
    for now in range(horizon):
        if state == CREATING and now >= until:
            state = IN_SERVICE
        elif state == DELETING and now >= until:
            state = SCALED_TO_ZERO
        if now in arrivals:
            last_invocation = now
            waiting.append(now)
        if waiting and state == SCALED_TO_ZERO:  # on demand: the request (or its retry) starts it
            state, until, started_at = CREATING, now + start_s, now
            result.starts += 1
        if waiting and state == IN_SERVICE:
            result.waits.extend(now - w for w in waiting)
            waiting.clear()
        if now % tick_s == 0:
            view = endpoint_policy.EndpointView(
                name="gpt2-demo",
                state=state,
                idle_after=idle_after,
                last_invocation=last_invocation,
                started_at=started_at,
            )
            decision, memory = endpoint_policy.decide(
                endpoint_policy.Snapshot(now=now, endpoints=(view,)), config, memory
            )
            if decision.scale_to_zero:
                result.scale_downs += 1
                if started_at is not None and now - started_at < min_in_service:
                    result.flaps += 1
                state, until = DELETING, now + delete_s
        if state in {CREATING, IN_SERVICE}:
            result.billed_seconds += 1
    return result


def endpoint_ideal_seconds(requests: list[int], *, start_s: float) -> float:
    """Offline optimum: one start, then across each gap the cheaper of staying up and a just-in-time start."""
    if not requests:
        return 0.0
    return start_s + 1 + sum(min(b - a - 1, start_s) + 1 for a, b in itertools.pairwise(requests))


def stretches(requests: list[int], *, idle_after: float) -> int:
    return sum(1 for a, b in zip([None, *requests], requests, strict=False) if a is None or b - a >= idle_after)


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
    parser.add_argument("--endpoint-start-s", type=float, default=480.0, help="SageMaker CreateEndpoint to InService")
    parser.add_argument("--endpoint-delete-s", type=float, default=60.0)
    parser.add_argument("--endpoint-idle-s", type=float, default=900.0, help="SAGEMAKER_IDLE_SCALE_AFTER")
    parser.add_argument("--endpoint-min-in-service-s", type=float, default=600.0, help="SAGEMAKER_MIN_IN_SERVICE")
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
    requests = generation_day(args.seed)
    endpoint = simulate_endpoint(
        requests,
        start_s=args.endpoint_start_s,
        delete_s=args.endpoint_delete_s,
        tick_s=args.tick_s,
        idle_after=args.endpoint_idle_s,
        min_in_service=args.endpoint_min_in_service_s,
    )
    report |= {
        "endpoint_hours": round(endpoint.billed_seconds / 3600, 3),
        "endpoint_ideal_hours": round(endpoint_ideal_seconds(requests, start_s=args.endpoint_start_s) / 3600, 3),
        "endpoint_always_on_hours": DAY / 3600,
        "endpoint_starts": endpoint.starts,
        "endpoint_stretches": stretches(requests, idle_after=args.endpoint_idle_s),
        "endpoint_flaps": endpoint.flaps,
        "endpoint_requests": len(requests),
        "endpoint_p95_wait_s": percentile(endpoint.waits, 95),
        "endpoint_start_s": args.endpoint_start_s,
        "endpoint_idle_s": args.endpoint_idle_s,
    }
    checks = {
        "gpu_hours <= 1.2 x ideal": report["gpu_hours"] <= 1.2 * report["ideal_gpu_hours"],
        "gpu_hours <= 25% of always-on": report["gpu_hours"] <= 0.25 * report["always_on_gpu_hours"],
        "p95 wait <= boot + 10 s": report["p95_wait_s"] <= args.boot_s + 10,
        "starts <= bursts + 10%": report["starts"] <= math.floor(len(bursts) * 1.1),
        "endpoint_hours <= 1.3 x ideal": report["endpoint_hours"] <= 1.3 * report["endpoint_ideal_hours"],
        "endpoint_hours <= 25% of always-on": report["endpoint_hours"] <= 0.25 * report["endpoint_always_on_hours"],
        "endpoint: no flapping": endpoint.flaps == 0 and endpoint.starts <= report["endpoint_stretches"],
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
    e_hours, e_ideal = report["endpoint_hours"], report["endpoint_ideal_hours"]
    print(
        f"  endpoint hours     {e_hours:8.2f}   ratio {e_hours / e_ideal:.3f} to ideal {e_ideal:.2f}, "
        f"{e_hours / 24:.3f} of always-on"
    )
    print(
        f"  endpoint starts    {report['endpoint_starts']} for {report['endpoint_stretches']} stretches of "
        f"{report['endpoint_requests']} requests; wait p95 {report['endpoint_p95_wait_s']:.0f} s"
    )
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if report["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
