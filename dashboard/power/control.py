"""Power services: make sure capacity is on when work arrives, stop idle instances, audit actions.

Writes and the panel's reads for power management live here; the decisions themselves are made by
the pure `dashboard.compute.policy`. Shared state is in Redis, never in process memory, because
the web tier runs several stateless processes and `manage.py power_tick` runs beside them:

  power:lock          redis-py Lock: one process decides and calls start/stop at a time
  power:capacity-ok   short-lived flag: an instance was on a moment ago (skips the check per submit)
  power:memory        the policy's memory (idle timers, recent starts), JSON
  power:error         the last provider error, its attempt count and when to retry, JSON
  power:last          the last decision, for the panel, JSON
  power:on-since      hash instance id -> epoch seconds it was first seen powered
  power:usage:<day>   hash instance id -> powered seconds that day (UTC), for GPU hours and cost

Nothing here raises into the submission path: `capacity_ensure` logs and records every error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from redis.exceptions import LockError
from rq import Worker
from rq.registry import StartedJobRegistry

from dashboard import audit, compute
from dashboard.aws import dynamodb, sagemaker
from dashboard.compute.base import PENDING, POWERED_STATES, RUNNING, STOPPING, ComputeBackend, Instance
from dashboard.compute.policy import (
    Decision,
    InstanceView,
    Memory,
    PolicyConfig,
    Snapshot,
    capacity_covered,
    decide,
)
from dashboard.exceptions import (
    ComputeError,
    ComputeNotFound,
    ComputeStateConflict,
    ComputeUnauthorized,
    EndpointStatusUnavailable,
    PowerBusy,
    StoreUnavailable,
)
from dashboard.queue import inference_queue

log = logging.getLogger(__name__)

LOCK_KEY = "power:lock"
CAPACITY_OK_KEY = "power:capacity-ok"
MEMORY_KEY = "power:memory"
ERROR_KEY = "power:error"
LAST_KEY = "power:last"
ON_SINCE_KEY = "power:on-since"
USAGE_PREFIX = "power:usage:"
ENDPOINTS_CACHE_KEY = "power:endpoints"
TICK_ALIVE_KEY = "power:tick-alive"
WORKER_META_PREFIX = "inference:worker:"

LOCK_SECONDS = 30.0  # longer than any start/stop call with its retries; released as soon as we finish
# How long a staff action waits for a check in progress (one describe and a start or stop) to finish.
ACTION_LOCK_WAIT_SECONDS = 5.0
CAPACITY_OK_SECONDS = 5
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 300
ENDPOINTS_CACHE_SECONDS = 15
ACTIONS = ("start", "stop", "reboot")


def _redis():
    from dashboard.queue import redis_connection  # one client per process, not one per call (issue 7)

    return redis_connection()


def policy_config() -> PolicyConfig:
    return PolicyConfig(
        idle_stop_after=float(settings.IDLE_STOP_AFTER),
        backlog_per_instance=settings.POWER_BACKLOG_PER_INSTANCE,
        start_grace=60.0,
        boot_timeout=float(settings.POWER_BOOT_TIMEOUT),
    )


@contextmanager
def power_lock(*, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Hold the fleet lock (yields True) or learn that another process holds it (yields False).

    redis-py's Lock releases by token in one script, so a holder whose lock expired never deletes the
    lock a later holder took.
    """
    lock = _redis().lock(
        LOCK_KEY, timeout=LOCK_SECONDS, sleep=0.1, blocking=wait_seconds > 0, blocking_timeout=wait_seconds or None
    )
    acquired = bool(lock.acquire())
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:  # it expired while we acted (and may be another's now): leave it be
                log.warning("the power lock expired before this holder released it")


def _json_get(key: str) -> Any:
    raw = _redis().get(key)
    return json.loads(raw) if raw else None


def _json_set(key: str, value: Any, *, ex: int | None = None) -> None:
    _redis().set(key, json.dumps(value, default=str), ex=ex)


# --- errors and backoff ---------------------------------------------------------------------


def power_error() -> dict[str, Any] | None:
    """The last provider error the panel should show, or None."""
    return _json_get(ERROR_KEY)


def _error_record(error: Exception, *, action: str, instance_id: str = "", now: float | None = None) -> None:
    now = time.time() if now is None else now
    previous = power_error() or {}
    attempts = int(previous.get("attempts", 0)) + 1
    delay = min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)
    if isinstance(error, ComputeUnauthorized):
        delay = BACKOFF_MAX_SECONDS  # someone must change the IAM policy; retry rarely until they do
    _json_set(
        ERROR_KEY,
        {
            "code": getattr(error, "code", error.__class__.__name__),
            "message": str(error),
            "action": action,
            "instance_id": instance_id,
            "at": now,
            "attempts": attempts,
            "retry_at": now + delay,
        },
    )


def _error_clear() -> None:
    _redis().delete(ERROR_KEY)


def _in_backoff(now: float) -> bool:
    error = power_error()
    return bool(error) and float(error.get("retry_at", 0)) > now


# --- audit ----------------------------------------------------------------------------------


def audit_record(*, actor: Any = None, actor_name: str, action: str, target: str, outcome: str, detail: str = ""):
    """A power action in the audit trail; never raises."""
    return audit.audit_record(
        kind="power", actor=actor, actor_name=actor_name, action=action, target=target, outcome=outcome, detail=detail
    )


# --- observing the fleet ----------------------------------------------------------------------


def workers_status() -> list[dict[str, Any]]:
    """RQ's registered workers with what each published about its model (`inference:worker:<name>`)."""
    redis = _redis()
    now = datetime.now(UTC)
    found = []
    for worker in Worker.all(connection=redis):
        meta = {k.decode(): v.decode() for k, v in redis.hgetall(WORKER_META_PREFIX + worker.name).items()}
        heartbeat = worker.last_heartbeat
        if heartbeat is not None and heartbeat.tzinfo is None:
            heartbeat = heartbeat.replace(tzinfo=UTC)
        found.append(
            {
                "name": worker.name,
                "state": worker.get_state(),
                "current_job": worker.get_current_job_id() or "",
                "heartbeat_age_s": (now - heartbeat).total_seconds() if heartbeat else None,
                "hostname": worker.hostname or "",
                "pid": worker.pid,
                "model": meta.get("model", ""),
                "device": meta.get("device", ""),
                "dtype": meta.get("dtype", ""),
                "implementation": meta.get("implementation", ""),
                "load_seconds": float(meta["load_seconds"]) if meta.get("load_seconds") else None,
                "instance_id": meta.get("instance_id", ""),
            }
        )
    return sorted(found, key=lambda w: w["name"])


def queue_counts() -> dict[str, int]:
    queue = inference_queue()
    return {
        "queued": queue.count,
        "running": StartedJobRegistry(queue=queue).count,
        "failed": queue.failed_job_registry.count,
    }


def store_counts(*, now: float | None = None) -> dict[str, Any]:
    """Queued and running items in DynamoDB (by_status), ignoring orphans older than POWER_ORPHAN_AFTER."""
    now = time.time() if now is None else now
    cutoff = datetime.fromtimestamp(now - settings.POWER_ORPHAN_AFTER, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    counts: dict[str, Any] = {"queued": 0, "running": 0, "orphans": 0, "oldest_queued": None}
    for status in ("queued", "running"):
        for item in dynamodb.items_with_status(status=status, limit=1000):
            if status == "queued" and counts["oldest_queued"] is None:
                counts["oldest_queued"] = item["created_at"]
            if item["created_at"] < cutoff:
                counts["orphans"] += 1
            else:
                counts[status] += 1
    return counts


def _views(instances: list[Instance], workers: list[dict[str, Any]]) -> tuple[InstanceView, ...]:
    busy = {w["instance_id"] for w in workers if w["current_job"] and w["instance_id"]}
    present = {w["instance_id"] for w in workers if w["instance_id"]}
    # A worker that does not say where it runs (no COMPUTE_INSTANCE_ID) might be on any instance: then
    # no instance is judged silent, rather than stopping one whose worker is working.
    placed = all(w["instance_id"] for w in workers)
    return tuple(
        InstanceView(
            id=i.id,
            state=i.state,
            busy=i.id in busy,
            has_worker=i.id in present if placed else None,
            up_since=i.launch_time.timestamp() if i.launch_time and i.state in {PENDING, RUNNING} else None,
        )
        for i in instances
    )


# --- GPU hours ----------------------------------------------------------------------------------


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _add_usage(instance_id: str, start: float, end: float) -> None:
    """Add powered seconds [start, end) to the per-day buckets they fall in."""
    redis = _redis()
    while start < end:
        day_end = (
            datetime.fromtimestamp(start, UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        ).timestamp()
        piece_end = min(end, day_end)
        key = USAGE_PREFIX + _day(start)
        redis.hincrbyfloat(key, instance_id, piece_end - start)
        redis.expire(key, 8 * 86400)
        start = piece_end


def usage_observe(instances: list[Instance], *, now: float | None = None) -> None:
    """Account powered time from what we see now: on since first seen (or launch), off when seen off."""
    now = time.time() if now is None else now
    redis = _redis()
    for instance in instances:
        raw = redis.hget(ON_SINCE_KEY, instance.id)
        if instance.powered and raw is None:
            launched = instance.launch_time.timestamp() if instance.launch_time else now
            redis.hsetnx(ON_SINCE_KEY, instance.id, min(now, max(launched, now - 86400)))
        elif not instance.powered and raw is not None and redis.hdel(ON_SINCE_KEY, instance.id):
            _add_usage(instance.id, float(raw), now)


def gpu_seconds_today(*, now: float | None = None) -> float:
    now = time.time() if now is None else now
    redis = _redis()
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    total = sum(float(v) for v in redis.hgetall(USAGE_PREFIX + _day(now)).values())
    for raw in redis.hgetall(ON_SINCE_KEY).values():
        total += max(0.0, now - max(float(raw), midnight))
    return total


# --- deciding and acting --------------------------------------------------------------------------


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
            _error_record(error, action="start", instance_id=instance_id, now=now)
            audit_record(actor_name=actor_name, action="start", target=instance_id, outcome="error", detail=str(error))
            continue
        _error_clear()
        audit_record(
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
            _error_record(error, action="stop", instance_id=instance_id, now=now)
            audit_record(actor_name=actor_name, action="stop", target=instance_id, outcome="error", detail=str(error))
            continue
        _redis().delete(CAPACITY_OK_KEY)
        audit_record(
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
    snapshot = Snapshot(now=now, instances=_views(instances, workers), queued=queued, running=running)
    memory = Memory.from_json(_json_get(MEMORY_KEY))
    decision, memory = decide(snapshot, policy_config(), memory)
    if not allow_stop and decision.stop:
        memory = _not_resting(memory, decision.silent)
        decision = replace(decision, stop=(), silent=(), reason="not stopping: the results table cannot be read")
    if (decision.start or decision.stop) and _in_backoff(now):
        blocked = set(decision.start)
        started_at = {k: v for k, v in memory.started_at.items() if k not in blocked}
        memory = replace(_not_resting(memory, decision.silent), started_at=started_at)
        decision = Decision(waiting=decision.waiting, desired=decision.desired, reason="retrying after an error")
    else:
        memory = _apply(backend, decision, memory, actor_name=actor_name, now=now)
    _json_set(MEMORY_KEY, memory.to_json())
    _json_set(
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
        _redis().set(CAPACITY_OK_KEY, "1", ex=CAPACITY_OK_SECONDS)
    return decision


def tick_heartbeat() -> None:
    """`power_tick` says it is alive; without it nothing stops idle instances."""
    _redis().set(TICK_ALIVE_KEY, str(time.time()), ex=max(3 * settings.POWER_TICK_SECONDS, 30))


def tick_alive() -> bool:
    return bool(_redis().exists(TICK_ALIVE_KEY))


def last_check() -> dict[str, Any] | None:
    """The last decision the policy made, with the counts it saw."""
    return _json_get(LAST_KEY)


def capacity_ensure(*, trigger: str = "submission") -> Decision | None:
    """Called after each enqueue: start an instance if work is waiting and none is on. Never raises.

    Cheap when capacity is on (one Redis GET). Concurrent callers do not pile up: one holds the lock
    and decides, the rest return at once; the periodic tick catches anything they leave.
    """
    try:
        redis = _redis()
        if redis.exists(CAPACITY_OK_KEY) or _in_backoff(time.time()):
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
            _error_record(error, action="ensure capacity")
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
        try:
            return _cycle(
                queued=queued, running=running, actor_name="system (power_tick)", now=now, allow_stop=allow_stop
            )
        except ComputeError as error:
            _error_record(error, action="describe", now=now)
            raise


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
                audit_record(
                    actor=actor,
                    actor_name=name,
                    action=action,
                    target=instance_id,
                    outcome="refused",
                    detail="another power check or action held the fleet lock",
                )
                raise PowerBusy("Another power check or action is in progress; try again in a few seconds.")
            if action == "start":
                outcome = backend.start(instance_id)
            elif action == "stop":
                outcome = backend.stop(instance_id)
                _redis().delete(CAPACITY_OK_KEY)
            else:
                backend.reboot(instance_id)
                outcome = "rebooting"
    except ComputeError as error:
        audit_record(
            actor=actor, actor_name=name, action=action, target=instance_id, outcome="error", detail=str(error)
        )
        raise
    audit_record(actor=actor, actor_name=name, action=action, target=instance_id, outcome="ok", detail=f"now {outcome}")
    return outcome


# --- the status panel ---------------------------------------------------------------------------


def endpoints_status() -> tuple[list[dict[str, Any]], str | None]:
    """SAGEMAKER_ENDPOINTS' status (cached for a few seconds: the panel polls), and an error, if any."""
    if not settings.SAGEMAKER_ENDPOINTS:
        return [], None
    cached = _json_get(ENDPOINTS_CACHE_KEY)
    if cached is not None:
        for endpoint in cached["endpoints"]:
            if endpoint.get("last_modified"):
                endpoint["last_modified"] = datetime.fromisoformat(endpoint["last_modified"])
        return cached["endpoints"], cached["error"]
    endpoints: list[dict[str, Any]] = []
    error = None
    try:
        names = settings.SAGEMAKER_ENDPOINTS
        if names == ["*"]:
            names = sagemaker.endpoints_list()
        for name in names:
            try:
                endpoints.append(sagemaker.endpoint_describe(name=name))
            except EndpointStatusUnavailable as one_error:
                endpoints.append(
                    {
                        "name": name,
                        "status": "Unknown",
                        "failure_reason": str(one_error),
                        "instance_type": "",
                        "instance_count": 0,
                        "last_modified": None,
                    }
                )
    except EndpointStatusUnavailable as list_error:
        error = str(list_error)
    _redis().set(
        ENDPOINTS_CACHE_KEY,
        json.dumps(
            {"endpoints": endpoints, "error": error},
            default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
        ),
        ex=ENDPOINTS_CACHE_SECONDS,
    )
    return endpoints, error


def _silent_instances(*, now: float) -> list[dict[str, Any]]:
    """Instances the policy stopped because no worker reported from them, while they rest."""
    try:
        memory = Memory.from_json(_json_get(MEMORY_KEY))
    except Exception:  # Redis down: the panel says so already
        return []
    timeout = float(settings.POWER_BOOT_TIMEOUT)
    return [
        {"instance_id": instance_id, "at": at, "timeout_s": timeout, "retry_in_s": max(0.0, at + timeout - now)}
        for instance_id, at in sorted(memory.silent_since.items())
        if now - at < timeout
    ]


def power_status(*, now: float | None = None) -> dict[str, Any]:
    """Everything the status panel shows. Each source fails on its own: one error never blanks the panel."""
    now = time.time() if now is None else now
    backend = compute.backend()
    status: dict[str, Any] = {"backend": backend.name, "supports_reboot": backend.supports_reboot}
    try:
        instances = backend.instances()
        status["instances_error"] = None
        usage_observe(instances, now=now)
    except ComputeError as error:
        instances = []
        status["instances_error"] = str(error)
    try:
        workers = workers_status()
        counts = queue_counts()
        status["queue_error"] = None
    except Exception as error:  # Redis down: say so on the panel instead of a 500
        workers, counts = [], {"queued": 0, "running": 0, "failed": 0}
        status["queue_error"] = f"The job queue (Redis) cannot be read: {error}"
    rows = []
    for instance in instances:
        launched = instance.launch_time.timestamp() if instance.launch_time else None
        rows.append(
            {
                "instance": instance,
                "uptime_s": now - launched if launched and instance.state in POWERED_STATES else None,
                "workers": [w for w in workers if w["instance_id"] == instance.id],
            }
        )
    known = {i.id for i in instances}
    status["instances"] = rows
    status["other_workers"] = [w for w in workers if w["instance_id"] not in known]
    oldest = None
    try:
        oldest_item = next(dynamodb.items_with_status(status="queued", limit=1), None)
        oldest = oldest_item["created_at"] if oldest_item else None
        status["store_error"] = None
    except StoreUnavailable as error:
        status["store_error"] = str(error)
    oldest_moment = dynamodb.timestamp_parse(oldest)
    oldest_age = now - oldest_moment.timestamp() if oldest_moment else None
    status["queue"] = {**counts, "oldest_queued_age_s": oldest_age}
    status["endpoints"], status["endpoints_error"] = endpoints_status()
    try:
        seconds = gpu_seconds_today(now=now)
    except Exception:
        seconds = 0.0
    hours = seconds / 3600
    status["usage"] = {
        "gpu_hours": hours,
        "cost": hours * settings.GPU_HOURLY_PRICE,
        "hourly_price": settings.GPU_HOURLY_PRICE,
    }
    error = power_error()
    if error:
        error["retry_in_s"] = max(0.0, float(error["retry_at"]) - now)
    status["power_error"] = error
    last = _json_get(LAST_KEY)
    status["waiting"] = list(last.get("waiting", [])) if last else []
    status["silent"] = _silent_instances(now=now)
    status["last_decision"] = last
    status["tick_alive"] = tick_alive()
    status["transitioning"] = any(i.state in {PENDING, STOPPING} for i in instances) or bool(status["waiting"])
    return status
