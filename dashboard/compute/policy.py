"""The power policy: which instances to start and stop, given the fleet and the backlog.

Pure: no I/O, no clock. The caller passes the time in `Snapshot.now` and keeps `Memory` between
calls (in Redis for the site, in a variable for `bench/power_sim.py`), so the same code runs live
and against a simulated day.

Rules
- Work = queued + running jobs. With work, keep ceil(work / backlog_per_instance) instances (at
  least one, at most the fleet) pending or running; start stopped ones to get there. An instance
  we asked to start counts as on for `start_grace` seconds even if the provider still says
  `stopped` (EC2's describe is eventually consistent), so a burst causes one start, not many.
- A `stopping` instance cannot be started: the decision lists it under `waiting`, and a later call
  starts it once it reads `stopped`. The work stays queued meanwhile; nothing is dropped.
- Idle stop: a running instance is stopped once it has been idle for `idle_stop_after` seconds
  without interruption. Idle means: it holds no job, nothing is queued, and every running job is
  known to be on another instance. With no work at all every idle instance may stop; with some,
  only instances beyond the `desired` count. Any job resets the timer (the hysteresis that stops
  it flapping).
- Capacity after acting: `capacity_covered` counts the instances the decision stops as off, although
  the snapshot it was made from (read before the stop) still shows them on.
- Holds: an instance in `Snapshot.held` is never started (nor waited for); staff hold it, or the
  whole fleet, until they release it. One that is on is left as any other, and stops when idle.
- Silent instances: an instance that has been pending or running for `boot_timeout` seconds while work
  waits, with no worker reporting from it in that time (a boot that never finishes, a worker service
  that does not start or died), is stopped so it costs nothing more, and is not started again for
  another `boot_timeout`; the work stays queued and another instance, if any, is started instead.
  Applies only where the caller knows which instances have a worker (`InstanceView.has_worker`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dashboard.compute.base import PENDING, RUNNING, STOPPED, STOPPING


@dataclass(frozen=True)
class PolicyConfig:
    idle_stop_after: float = 90.0
    backlog_per_instance: int = 200
    start_grace: float = 60.0
    boot_timeout: float = 600.0


@dataclass(frozen=True)
class InstanceView:
    id: str
    state: str
    busy: bool = False  # a worker on this instance holds a job
    has_worker: bool | None = None  # a worker on this instance is registered; None: not observed
    up_since: float | None = None  # when it was last started (EC2's LaunchTime), if pending or running


@dataclass(frozen=True)
class Snapshot:
    now: float
    instances: tuple[InstanceView, ...]
    queued: int = 0
    running: int = 0
    held: frozenset[str] = frozenset()  # instances staff hold: never started (dashboard/power/holds.py)


@dataclass(frozen=True)
class Memory:
    """What the policy remembers between calls: when each instance went idle, when we started it, when
    a worker was last seen on it, and when we gave up on one that stayed silent."""

    idle_since: dict[str, float] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    worker_seen: dict[str, float] = field(default_factory=dict)
    silent_since: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "idle_since": dict(self.idle_since),
            "started_at": dict(self.started_at),
            "worker_seen": dict(self.worker_seen),
            "silent_since": dict(self.silent_since),
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Memory:
        data = data or {}
        return cls(
            idle_since={k: float(v) for k, v in (data.get("idle_since") or {}).items()},
            started_at={k: float(v) for k, v in (data.get("started_at") or {}).items()},
            worker_seen={k: float(v) for k, v in (data.get("worker_seen") or {}).items()},
            silent_since={k: float(v) for k, v in (data.get("silent_since") or {}).items()},
        )


@dataclass(frozen=True)
class Decision:
    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()  # needed, but `stopping`: start once `stopped`
    silent: tuple[str, ...] = ()  # stopped (they are in `stop` too) because no worker reported from them
    desired: int = 0
    reason: str = ""


def _effective_state(instance: InstanceView, memory: Memory, now: float, config: PolicyConfig) -> str:
    started = memory.started_at.get(instance.id)
    if instance.state == STOPPED and started is not None and now - started < config.start_grace:
        return PENDING
    return instance.state


def desired_instances(*, work: int, fleet: int, config: PolicyConfig) -> int:
    if work <= 0 or fleet <= 0:
        return 0
    return min(fleet, max(1, math.ceil(work / config.backlog_per_instance)))


def _silent_for(instance: InstanceView, memory: Memory, now: float) -> float:
    """Seconds an instance has been on without a worker reporting from it (0 if unknown)."""
    marks = [t for t in (instance.up_since, memory.worker_seen.get(instance.id)) if t is not None]
    return now - max(marks) if marks else 0.0


def decide(snapshot: Snapshot, config: PolicyConfig, memory: Memory) -> tuple[Decision, Memory]:
    now = snapshot.now
    work = snapshot.queued + snapshot.running
    states = {i.id: _effective_state(i, memory, now, config) for i in snapshot.instances}
    desired = desired_instances(work=work, fleet=len(snapshot.instances), config=config)

    # Idle timers run while an instance is `running`, holds no job, nothing is queued (an idle worker
    # would take it) and every running job is known to be on another instance; anything else resets them.
    accounted = sum(1 for i in snapshot.instances if i.busy) >= snapshot.running
    idle_since = {
        i.id: memory.idle_since.get(i.id, now)
        for i in snapshot.instances
        if states[i.id] == RUNNING and not i.busy and snapshot.queued == 0 and accounted
    }
    started_at = {k: v for k, v in memory.started_at.items() if now - v < config.start_grace}

    # Silent instances: on for boot_timeout while work waits, and no worker from them in that time.
    worker_seen = {
        i.id: now if i.has_worker else memory.worker_seen[i.id]
        for i in snapshot.instances
        if i.has_worker or i.id in memory.worker_seen
    }
    silent = sorted(
        i.id
        for i in snapshot.instances
        if i.has_worker is False
        and snapshot.queued > 0
        and i.state in {PENDING, RUNNING}  # as the provider says: not one counted as pending by start_grace
        and _silent_for(i, memory, now) >= config.boot_timeout
    )
    for instance_id in silent:
        started_at.pop(instance_id, None)  # stopped now: no longer "just started"
    resting = {k: v for k, v in memory.silent_since.items() if now - v < config.boot_timeout}
    resting.update({instance_id: now for instance_id in silent})

    on = [i for i in snapshot.instances if states[i.id] in {PENDING, RUNNING} and i.id not in silent]
    start: list[str] = []
    waiting: list[str] = []
    held_off: list[str] = []
    need = desired - len(on)
    if need > 0:
        unavailable = resting.keys() | snapshot.held
        stopped = sorted(i.id for i in snapshot.instances if states[i.id] == STOPPED and i.id not in unavailable)
        start = stopped[:need]
        if len(start) < need:
            stopping = sorted(i.id for i in snapshot.instances if states[i.id] == STOPPING and i.id not in unavailable)
            waiting = stopping[: need - len(start)]
        held_off = sorted(i.id for i in snapshot.instances if i.id in snapshot.held and states[i.id] != RUNNING)
        for instance_id in start:
            started_at[instance_id] = now

    stop: list[str] = []
    expired = [i for i in on if i.id in idle_since and now - idle_since[i.id] >= config.idle_stop_after]
    if work == 0:
        stop = sorted(i.id for i in expired)
    elif snapshot.queued == 0 and accounted:
        # Surplus scale-in: keep `desired` instances, never one holding a job.
        surplus = len(on) - desired
        stop = sorted(i.id for i in expired)[: max(0, surplus)]
    for instance_id in stop:
        idle_since.pop(instance_id, None)
    stop = sorted([*stop, *silent])

    reasons = []
    if silent:
        reasons.append(
            f"no worker reported from {', '.join(silent)} within {config.boot_timeout:.0f} s of its start; "
            f"stopping it, not to be started again for {config.boot_timeout:.0f} s"
        )
    if start:
        reasons.append(f"{work} job(s) waiting or running; want {desired} instance(s), {len(on)} on")
    elif waiting:
        reasons.append(f"{work} job(s) waiting; {', '.join(waiting)} is stopping, start it once stopped")
    elif stop and len(stop) > len(silent):
        reasons.append(f"idle for {config.idle_stop_after:.0f} s with {'no work' if work == 0 else 'a surplus'}")
    if held_off and len(start) + len(waiting) < need:
        reasons.append(f"{work} job(s) waiting; not starting {', '.join(held_off)}: held by staff")
    reason = "; ".join(reasons) or "no change"
    decision = Decision(
        start=tuple(start),
        stop=tuple(stop),
        waiting=tuple(waiting),
        silent=tuple(silent),
        desired=desired,
        reason=reason,
    )
    memory = Memory(idle_since=idle_since, started_at=started_at, worker_seen=worker_seen, silent_since=resting)
    return decision, memory


def capacity_covered(snapshot: Snapshot, decision: Decision) -> bool:
    """Whether, once the decision is carried out, instances are on and enough of them for the work.

    What the decision stops is off from now on, whatever the snapshot (read before the stop) says, so
    an idle stop never reports the capacity it just removed as still there.
    """
    stopped = set(decision.stop)
    on = sum(1 for i in snapshot.instances if i.state in {PENDING, RUNNING} and i.id not in stopped)
    on += len(decision.start)
    return on > 0 and decision.desired <= on
