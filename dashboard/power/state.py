"""Power management's shared state in Redis: the fleet lock, small JSON records, and error backoff.

Shared state is in Redis, never in process memory, because the web tier runs several stateless
processes and `manage.py power_tick` runs beside them:

  power:lock          redis-py Lock: one process decides and calls start/stop at a time
  power:capacity-ok   short-lived flag: an instance was on a moment ago (skips the check per submit)
  power:memory        the policy's memory (idle timers, recent starts), JSON
  power:error         the last provider error, its attempt count and when to retry, JSON
  power:last          the last decision, for the panel, JSON
  power:tick-alive    `power_tick` is running (it refreshes this every check)
  power:endpoints     SageMaker endpoints' status, cached for a few seconds, JSON
  power:on-since      hash instance id -> epoch seconds it was first seen powered (dashboard.power.usage)
  power:usage:<day>   hash instance id -> powered seconds that day (UTC), for GPU hours and cost
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from redis import Redis
from redis.exceptions import LockError

from dashboard.exceptions import ComputeUnauthorized

log = logging.getLogger(__name__)

LOCK_KEY = "power:lock"
CAPACITY_OK_KEY = "power:capacity-ok"
MEMORY_KEY = "power:memory"
ERROR_KEY = "power:error"
LAST_KEY = "power:last"
TICK_ALIVE_KEY = "power:tick-alive"
ENDPOINTS_CACHE_KEY = "power:endpoints"

LOCK_SECONDS = 30.0  # longer than any start/stop call with its retries; released as soon as we finish
CAPACITY_OK_SECONDS = 5
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 300


def redis() -> Redis:
    # The queue's client: one per process, not one per call (connects were a third of a submission).
    from dashboard.queue import redis_connection

    return redis_connection()


@contextmanager
def power_lock(*, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Hold the fleet lock (yields True) or learn that another process holds it (yields False).

    redis-py's Lock releases by token in one script, so a holder whose lock expired never deletes the
    lock a later holder took.
    """
    lock = redis().lock(
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


def json_get(key: str) -> Any:
    raw = redis().get(key)
    return json.loads(raw) if raw else None


def json_set(key: str, value: Any, *, ex: int | None = None) -> None:
    redis().set(key, json.dumps(value, default=str), ex=ex)


def capacity_ok_set() -> None:
    """An instance is on: submissions in the next few seconds skip the capacity check."""
    redis().set(CAPACITY_OK_KEY, "1", ex=CAPACITY_OK_SECONDS)


def capacity_ok_clear() -> None:
    redis().delete(CAPACITY_OK_KEY)


def capacity_ok() -> bool:
    return bool(redis().exists(CAPACITY_OK_KEY))


def last_check() -> dict[str, Any] | None:
    """The last decision the policy made, with the counts it saw."""
    last: dict[str, Any] | None = json_get(LAST_KEY)  # the policy cycle stores an object there, or nothing
    return last


def tick_heartbeat() -> None:
    """`power_tick` says it is alive; without it nothing stops idle instances."""
    redis().set(TICK_ALIVE_KEY, str(time.time()), ex=max(3 * settings.POWER_TICK_SECONDS, 30))


def tick_alive() -> bool:
    return bool(redis().exists(TICK_ALIVE_KEY))


# --- errors and backoff ---------------------------------------------------------------------


def power_error() -> dict[str, Any] | None:
    """The last provider error the panel should show, or None."""
    error: dict[str, Any] | None = json_get(ERROR_KEY)  # `error_record` stores an object there, or nothing
    return error


def error_record(error: Exception, *, action: str, instance_id: str = "", now: float | None = None) -> None:
    """Remember a provider error and when to try again: exponential backoff up to BACKOFF_MAX_SECONDS."""
    now = time.time() if now is None else now
    previous = power_error() or {}
    attempts = int(previous.get("attempts", 0)) + 1
    delay = min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)
    if isinstance(error, ComputeUnauthorized):
        delay = BACKOFF_MAX_SECONDS  # someone must change the IAM policy; retry rarely until they do
    json_set(
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


def error_clear() -> None:
    redis().delete(ERROR_KEY)


def in_backoff(now: float) -> bool:
    error = power_error()
    if not error:
        return False
    return float(error.get("retry_at", 0)) > now
