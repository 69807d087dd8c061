"""GPU-hours accounting: powered seconds per instance per UTC day, kept in Redis for the cost line.

An instance is "on since" the first time it is seen powered (or its launch time, at most a day back)
and its seconds are added to the day buckets they fall in when it is seen off. A day bucket lives a
week; the panel shows today's.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from dashboard.compute.base import Instance
from dashboard.power.state import redis

ON_SINCE_KEY = "power:on-since"
USAGE_PREFIX = "power:usage:"
USAGE_KEEP_SECONDS = 8 * 86400


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _midnight(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _add_usage(instance_id: str, start: float, end: float) -> None:
    """Add powered seconds [start, end) to the per-day buckets they fall in."""
    connection = redis()
    while start < end:
        piece_end = min(end, (_midnight(start) + timedelta(days=1)).timestamp())
        key = USAGE_PREFIX + _day(start)
        connection.hincrbyfloat(key, instance_id, piece_end - start)
        connection.expire(key, USAGE_KEEP_SECONDS)
        start = piece_end


def usage_observe(instances: list[Instance], *, now: float | None = None) -> None:
    """Account powered time from what we see now: on since first seen (or launch), off when seen off."""
    now = time.time() if now is None else now
    connection = redis()
    for instance in instances:
        raw = connection.hget(ON_SINCE_KEY, instance.id)
        if instance.powered and raw is None:
            launched = instance.launch_time.timestamp() if instance.launch_time else now
            connection.hsetnx(ON_SINCE_KEY, instance.id, min(now, max(launched, now - 86400)))
        elif not instance.powered and raw is not None and connection.hdel(ON_SINCE_KEY, instance.id):
            _add_usage(instance.id, float(raw), now)


def gpu_seconds_today(*, now: float | None = None) -> float:
    """Powered seconds since UTC midnight, all instances: closed stretches plus those still on."""
    now = time.time() if now is None else now
    connection = redis()
    midnight = _midnight(now).timestamp()
    total = sum(float(v) for v in connection.hgetall(USAGE_PREFIX + _day(now)).values())
    for raw in connection.hgetall(ON_SINCE_KEY).values():
        total += max(0.0, now - max(float(raw), midnight))
    return total
