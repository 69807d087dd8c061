"""What the console remembers about its endpoints, in Redis (shared by the web processes and `power_tick`):

endpoints:last-invocation   hash name -> epoch seconds of the last request that needed it (idle timer)
endpoints:paused            hash name -> JSON {"by", "at"}: paused by staff, kept at zero until resumed
endpoints:started-at        hash name -> epoch seconds the console last started it (no flapping)
endpoints:start-pending     hash name -> epoch seconds of a start not yet seen InService (to measure it)
endpoints:start-seconds     hash name -> moving average of measured start times
endpoints:starting:<name>   the single-flight lock of a start: one re-create for many requests
endpoints:ready:<name>      short-lived flag: InService a moment ago (skips the describe per request)
endpoints:config            hash name -> the endpoint config a scaled-to-zero real-time endpoint comes back from
endpoints:memory            the endpoint policy's memory, JSON
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from dashboard.queue import redis_connection as redis

log = logging.getLogger(__name__)

LAST_INVOCATION_KEY = "endpoints:last-invocation"
PAUSED_KEY = "endpoints:paused"
STARTED_AT_KEY = "endpoints:started-at"
START_PENDING_KEY = "endpoints:start-pending"
START_SECONDS_KEY = "endpoints:start-seconds"
START_LOCK_PREFIX = "endpoints:starting:"
READY_PREFIX = "endpoints:ready:"
CONFIG_KEY = "endpoints:config"
MEMORY_KEY = "endpoints:memory"

READY_SECONDS = 5
# Weight of the newest measured start in the moving average: a few starts settle it, one outlier does not.
START_AVERAGE_WEIGHT = 0.3


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _floats(key: str) -> dict[str, float]:
    return {_text(k): float(v) for k, v in redis().hgetall(key).items()}


def invocation_record(name: str, *, now: float | None = None) -> None:
    """A request needs the endpoint: its idle timer starts again. One HSET.

    Best effort: with Redis away the request still goes to the endpoint; the idle timer then runs
    from the last request Redis saw, and the power check cannot run without Redis anyway.
    """
    try:
        redis().hset(LAST_INVOCATION_KEY, name, time.time() if now is None else now)
    except RedisError as error:
        log.warning("could not record a request to endpoint %s: %s", name, error)


def last_invocations() -> dict[str, float]:
    return _floats(LAST_INVOCATION_KEY)


def pause_set(name: str, *, by: str, now: float) -> None:
    redis().hset(PAUSED_KEY, name, json.dumps({"by": by, "at": now}))


def pause_clear(name: str) -> bool:
    return bool(redis().hdel(PAUSED_KEY, name))


def pauses() -> dict[str, dict[str, Any]]:
    return {_text(k): json.loads(v) for k, v in redis().hgetall(PAUSED_KEY).items()}


def pause_of(name: str) -> dict[str, Any] | None:
    raw = redis().hget(PAUSED_KEY, name)
    return json.loads(raw) if raw else None


def start_claim(name: str, *, now: float, seconds: int) -> bool:
    """Take the start of `name` for this caller (True), unless another holds it (False). Expires by itself."""
    return bool(redis().set(START_LOCK_PREFIX + name, str(now), nx=True, ex=max(60, seconds)))


def start_claimed_at(name: str) -> float | None:
    raw = redis().get(START_LOCK_PREFIX + name)
    return float(raw) if raw else None


def start_release(name: str) -> None:
    redis().delete(START_LOCK_PREFIX + name)


def start_record(name: str, *, now: float) -> None:
    """The console started `name` now: the no-flapping rule counts from here, and the start is measured."""
    connection = redis()
    connection.hset(STARTED_AT_KEY, name, now)
    connection.hset(START_PENDING_KEY, name, now)


def started_at() -> dict[str, float]:
    return _floats(STARTED_AT_KEY)


def start_observed(name: str, *, now: float) -> float | None:
    """`name` is InService: fold the time since its start into the average (once per start). Returns it."""
    connection = redis()
    raw = connection.hget(START_PENDING_KEY, name)
    if raw is None or not connection.hdel(START_PENDING_KEY, name):
        return None  # no start pending, or another process measured it first
    seconds = max(0.0, now - float(raw))
    previous = connection.hget(START_SECONDS_KEY, name)
    weight = START_AVERAGE_WEIGHT
    average = seconds if previous is None else (1 - weight) * float(previous) + weight * seconds
    connection.hset(START_SECONDS_KEY, name, average)
    return seconds


def start_estimate(name: str, *, kind: str, backend: str) -> int:
    """Seconds a start of `name` takes: the measured average, or SAGEMAKER_START_SECONDS for its kind."""
    measured = redis().hget(START_SECONDS_KEY, name)
    if measured is not None:
        return max(1, round(float(measured)))
    typical: dict[str, int] = settings.SAGEMAKER_START_SECONDS
    return int(typical.get("local" if backend == "local" else kind) or typical.get("realtime") or 480)


def memory_get() -> dict[str, Any] | None:
    raw = redis().get(MEMORY_KEY)
    return json.loads(raw) if raw else None


def memory_set(memory: dict[str, Any]) -> None:
    redis().set(MEMORY_KEY, json.dumps(memory))


def ready_set(name: str) -> None:
    redis().set(READY_PREFIX + name, "1", ex=READY_SECONDS)


def ready(name: str) -> bool:
    return bool(redis().exists(READY_PREFIX + name))


def ready_clear(name: str) -> None:
    redis().delete(READY_PREFIX + name)


def config_remember(name: str, config_name: str) -> None:
    redis().hset(CONFIG_KEY, name, config_name)


def config_remembered(name: str) -> str | None:
    raw = redis().hget(CONFIG_KEY, name)
    return _text(raw) if raw else None
