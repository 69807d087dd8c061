"""Power control: the decide-and-act cycle and staff actions, every write to the fleet, each audited.

`capacity_ensure` makes sure capacity is on when work arrives, `power_tick` stops what has idled, and
`instance_action` is a staff member's start/stop/reboot. The decisions themselves are made by the
pure `dashboard.compute.policy`; this module observes (`fleet`, `usage`), asks it, and acts, holding
the fleet lock (`state`) so one process acts at a time.

Nothing here raises into the submission path: `capacity_ensure` logs and records every error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from django.conf import settings

from dashboard import audit, compute, metrics
from dashboard.compute.base import PENDING, STOPPING, ComputeBackend
from dashboard.compute.policy import Decision, Memory, PolicyConfig, Snapshot, capacity_covered, decide
from dashboard.exceptions import (
    ComputeError,
    ComputeNotFound,
    ComputeStateConflict,
    PowerBusy,
    PowerHeld,
    StoreUnavailable,
)
from dashboard.power.fleet import instance_views, queue_counts, store_counts, workers_status
from dashboard.power.holds import FLEET, held_ids, hold_release, hold_set, holds_all
from dashboard.power.state import (
    LAST_KEY,
    MEMORY_KEY,
    capacity_ok,
    capacity_ok_clear,
    capacity_ok_set,
    error_clear,
    error_record,
    in_backoff,
    json_get,
    json_set,
    power_lock,
    tick_alive,
)
from dashboard.power.usage import usage_observe

log = logging.getLogger(__name__)

# How long a staff action waits for a check in progress (one describe and a start or stop) to finish.
ACTION_LOCK_WAIT_SECONDS = 5.0
ACTIONS = ("start", "stop", "reboot")


def policy_config() -> PolicyConfig:
    return PolicyConfig(
        idle_stop_after=float(settings.IDLE_STOP_AFTER),
        backlog_per_instance=settings.POWER_BACKLOG_PER_INSTANCE,
        start_grace=60.0,
        boot_timeout=float(settings.POWER_BOOT_TIMEOUT),
    )


def _audit(*, actor: Any = None, actor_name: str, action: str, target: str, outcome: str, detail: str = "") -> None:
    """A power action in the audit trail and in `console_power_actions_total`; never raises."""
    metrics.power_action_count(action=action, actor="system" if actor is None else "staff", outcome=outcome)
    audit.audit_record(
        kind="power", actor=actor, actor_name=actor_name, action=action, target=target, outcome=outcome, detail=detail
    )


def _apply(backend: ComputeBackend, decision: Decision, memory: Memory, *, actor_name: str, now: float) -> Memory:
    started_at = dict(memory.started_at)
    for instance_id in decision.start:
        try:
            state = backend.start(instance_id)
        except ComputeStateConflict as error:
            started_at.pop(instance_id, None)
            log.info("start of %s deferred: %s", instance_id, error)
            continue
        except ComputeError as error:
            started_at.pop(instance_id, None)  # so the next attempt is not mistaken for a pending start
            log.warning("start of %s failed: %s", instance_id, error)
            error_record(error, action="start", instance_id=instance_id, now=now)
            _audit(actor_name=actor_name, action="start", target=instance_id, outcome="error", detail=str(error))
            continue
        error_clear()
        _audit(
            actor_name=actor_name,
            action="start",
            target=instance_id,
            outcome="ok",
            detail=f"{decision.reason}; now {state}",
        )
    for instance_id in decision.stop:
        try:
            state = backend.stop(instance_id)
        except ComputeError as error:
            log.warning("stop of %s failed: %s", instance_id, error)
            error_record(error, action="stop", instance_id=instance_id, now=now)
            _audit(actor_name=actor_name, action="stop", target=instance_id, outcome="error", detail=str(error))
            continue
        capacity_ok_clear()
        _audit(
            actor_name=actor_name,
            action="stop",
            target=instance_id,
            outcome="ok",
            detail=f"{decision.reason}; now {state}",
        )
    return replace(memory, started_at=started_at)


def _not_resting(memory: Memory, silent: tuple[str, ...]) -> Memory:
    """A silent instance that is not stopped now is not resting either: the next check looks at it again."""
    return replace(memory, silent_since={k: v for k, v in memory.silent_since.items() if k not in silent})


def _cycle(*, queued: int, running: int, actor_name: str, now: float, allow_stop: bool = True) -> Decision:
    """Observe, decide, act, remember. The caller holds the lock."""
    backend = compute.backend()
    instances = backend.instances()
    usage_observe(instances, now=now)
    workers = workers_status()
    snapshot = Snapshot(
        now=now,
        instances=instance_views(instances, workers),
        queued=queued,
        running=running,
        held=held_ids(i.id for i in instances),
    )
    memory = Memory.from_json(json_get(MEMORY_KEY))
    decision, memory = decide(snapshot, policy_config(), memory)
    if not allow_stop and decision.stop:
        memory = _not_resting(memory, decision.silent)
        decision = replace(decision, stop=(), silent=(), reason="not stopping: the results table cannot be read")
    if (decision.start or decision.stop) and in_backoff(now):
        blocked = set(decision.start)
        started_at = {k: v for k, v in memory.started_at.items() if k not in blocked}
        memory = replace(_not_resting(memory, decision.silent), started_at=started_at)
        decision = Decision(waiting=decision.waiting, desired=decision.desired, reason="retrying after an error")
    else:
        memory = _apply(backend, decision, memory, actor_name=actor_name, now=now)
    json_set(MEMORY_KEY, memory.to_json())
    json_set(
        LAST_KEY,
        {
            "at": now,
            "start": decision.start,
            "stop": decision.stop,
            "waiting": decision.waiting,
            "silent": decision.silent,
            "desired": decision.desired,
            "reason": decision.reason,
            "queued": queued,
            "running": running,
            "transitioning": any(i.state in {PENDING, STOPPING} for i in instances),
        },
    )
    if capacity_covered(snapshot, decision):
        capacity_ok_set()
    return decision


def capacity_ensure(*, trigger: str = "submission") -> Decision | None:
    """Called after each enqueue: start an instance if work is waiting and none is on. Never raises.

    Cheap when capacity is on (one Redis GET). Concurrent callers do not pile up: one holds the lock
    and decides, the rest return at once; the periodic tick catches anything they leave.
    """
    try:
        if capacity_ok() or in_backoff(time.time()):
            return None
        if FLEET in holds_all():  # nothing may start: the tick still watches, and stops what idles
            return None
        if settings.COMPUTE_BACKEND == "local" and not tick_alive():
            # Nothing would stop a local worker started now (tests, a shell, a site without its tick):
            # leave the work queued for whichever worker runs, rather than leak a process.
            log.info("power_tick is not running; not starting a local worker for the %s", trigger)
            return None
        with power_lock() as acquired:
            if not acquired:
                return None
            counts = queue_counts()
            return _cycle(
                queued=max(counts["queued"], 1),
                running=counts["running"],
                actor_name=f"system ({trigger})",
                now=time.time(),
            )
    except Exception as error:  # the submission is already stored and queued: never fail it for power
        log.exception("capacity check after %s failed", trigger)
        try:
            error_record(error, action="ensure capacity")
        except Exception:
            log.exception("could not record the power error")
        return None


def power_tick(*, now: float | None = None, wait_seconds: float = 5.0) -> Decision | None:
    """The periodic check: start what work needs, stop what has idled, retry after errors.

    Counts work from RQ (queue, started jobs) and from DynamoDB's by_status index, so an item whose
    job is somewhere RQ does not show still keeps the GPU on (until POWER_ORPHAN_AFTER).
    """
    now = time.time() if now is None else now
    with power_lock(wait_seconds=wait_seconds) as acquired:
        if not acquired:
            return None
        counts = queue_counts()
        allow_stop = True
        try:
            store = store_counts(now=now)
        except StoreUnavailable as error:
            # Without DynamoDB we cannot prove the fleet idle: start what RQ asks for, stop nothing.
            log.warning("power tick: DynamoDB unreadable (%s); not stopping anything", error)
            store, allow_stop = {"queued": 0, "running": 0}, False
        queued = max(counts["queued"], store["queued"])
        running = max(counts["running"], store["running"])
        _endpoints_check(now=now)
        try:
            return _cycle(
                queued=queued, running=running, actor_name="system (power_tick)", now=now, allow_stop=allow_stop
            )
        except ComputeError as error:
            error_record(error, action="describe", now=now)
            raise


def _endpoints_check(*, now: float) -> None:
    """Endpoints idle past their time go to zero (dashboard.endpoints.control; never raises)."""
    from dashboard.endpoints.control import endpoints_tick

    endpoints_tick(now=now)


def instance_action(*, instance_id: str, action: str, actor: Any) -> str:
    """A staff member's start/stop/reboot. Audited whatever the outcome.

    Raises ComputeError when the provider refuses, PowerBusy when the fleet lock stays taken.
    """
    backend = compute.backend()
    name = actor.get_username() if actor is not None else "system"
    if instance_id not in backend.instance_ids():
        raise ComputeNotFound(f"{instance_id} is not managed by this console")
    if action not in ACTIONS or (action == "reboot" and not backend.supports_reboot):
        raise ValueError(f"{action!r} is not possible on {backend.name} instances")
    try:
        with power_lock(wait_seconds=ACTION_LOCK_WAIT_SECONDS) as acquired:
            if not acquired:
                # Acting beside a check that is starting or stopping the same fleet could undo its decision.
                _audit(
                    actor=actor,
                    actor_name=name,
                    action=action,
                    target=instance_id,
                    outcome="refused",
                    detail="another power check or action held the fleet lock",
                )
                raise PowerBusy("Another power check or action is in progress; try again in a few seconds.")
            holds = holds_all()
            hold = holds.get(instance_id) or holds.get(FLEET)
            if action == "start" and hold:
                raise PowerHeld(f"{instance_id} is held by {hold['by']}: {hold['reason']}. Release the hold first.")
            if action == "start":
                outcome = backend.start(instance_id)
            elif action == "stop":
                outcome = backend.stop(instance_id)
                capacity_ok_clear()
            else:
                backend.reboot(instance_id)
                outcome = "rebooting"
    except ComputeError as error:
        _audit(actor=actor, actor_name=name, action=action, target=instance_id, outcome="error", detail=str(error))
        raise
    _audit(actor=actor, actor_name=name, action=action, target=instance_id, outcome="ok", detail=f"now {outcome}")
    return outcome


def hold_change(*, target: str, hold: bool, actor: Any, reason: str = "") -> dict[str, Any] | None:
    """A staff member holds or releases an instance (or FLEET). Audited. Returns the hold set or released.

    Raises ComputeNotFound for a target this console does not manage, ValueError for a hold without
    a reason (the panel shows it to everyone waiting).
    """
    if target != FLEET and target not in compute.backend().instance_ids():
        raise ComputeNotFound(f"{target} is not managed by this console")
    name = actor.get_username() if actor is not None else "system"
    reason = reason.strip()[:500]
    if hold and not reason:
        raise ValueError("Say why: the reason is shown to everyone whose work waits.")
    if hold:
        record: dict[str, Any] | None = hold_set(target=target, by=name, reason=reason)
        _audit(actor=actor, actor_name=name, action="hold", target=target, outcome="ok", detail=reason)
    else:
        record = hold_release(target=target)
        detail = f"held by {record['by']}: {record['reason']}" if record else "it was not held"
        _audit(actor=actor, actor_name=name, action="release", target=target, outcome="ok", detail=detail)
    return record
