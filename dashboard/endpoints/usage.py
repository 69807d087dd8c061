"""Endpoint-hours accounting: billed seconds per endpoint per UTC day, in Redis, for the panel's cost.

As for GPU instances (dashboard/power/usage.py): an endpoint is "on since" the first time it is seen
billing, with the instance count it had then, and its seconds go to the day buckets they fall in when
it is seen not billing. Each bucket keeps endpoint-seconds (`<name>`) and instance-seconds
(`<name>#instances`), which the per-type price (SAGEMAKER_HOURLY_PRICES) turns into a cost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from dashboard.endpoints.base import Endpoint
from dashboard.queue import redis_connection as redis

ON_SINCE_KEY = "endpoints:on-since"
USAGE_PREFIX = "endpoints:usage:"
USAGE_KEEP_SECONDS = 40 * 86400  # a month's buckets and then some


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _next_midnight(ts: float) -> float:
    midnight = datetime.fromtimestamp(ts, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + timedelta(days=1)).timestamp()


def _add(name: str, start: float, end: float, count: int) -> None:
    connection = redis()
    while start < end:
        piece_end = min(end, _next_midnight(start))
        key = USAGE_PREFIX + _day(start)
        connection.hincrbyfloat(key, name, piece_end - start)
        connection.hincrbyfloat(key, f"{name}#instances", (piece_end - start) * count)
        connection.expire(key, USAGE_KEEP_SECONDS)
        start = piece_end


def endpoint_usage_observe(endpoints: Iterable[Endpoint], *, now: float | None = None) -> None:
    """Account billed time from what we see now: on since first seen billing, closed when seen not billing."""
    now = time.time() if now is None else now
    connection = redis()
    for endpoint in endpoints:
        raw = connection.hget(ON_SINCE_KEY, endpoint.name)
        if endpoint.billed and raw is None:
            connection.hsetnx(ON_SINCE_KEY, endpoint.name, json.dumps([now, max(1, endpoint.instance_count)]))
        elif not endpoint.billed and raw is not None and connection.hdel(ON_SINCE_KEY, endpoint.name):
            since, count = json.loads(raw)
            _add(endpoint.name, float(since), now, int(count))


def endpoint_seconds(*, day_of: float) -> dict[str, tuple[float, float]]:
    """Each endpoint's (endpoint-seconds, instance-seconds) on the UTC day of `day_of`, open stretches included
    up to `day_of` when that day is today's."""
    connection = redis()
    found: dict[str, list[float]] = {}
    for field, value in connection.hgetall(USAGE_PREFIX + _day(day_of)).items():
        key = field.decode() if isinstance(field, bytes) else field
        name, _, part = key.partition("#")
        found.setdefault(name, [0.0, 0.0])[1 if part else 0] += float(value)
    midnight = _next_midnight(day_of) - 86400
    for field, value in connection.hgetall(ON_SINCE_KEY).items():
        name = field.decode() if isinstance(field, bytes) else field
        since, count = json.loads(value)
        open_seconds = max(0.0, day_of - max(float(since), midnight))
        totals = found.setdefault(name, [0.0, 0.0])
        totals[0] += open_seconds
        totals[1] += open_seconds * int(count)
    return {name: (seconds, instances) for name, (seconds, instances) in found.items()}


def endpoint_cost(instance_seconds: float, *, instance_type: str, prices: dict[str, float]) -> float | None:
    """The estimated cost of `instance_seconds` on `instance_type`, or None without a price for it."""
    price = prices.get(instance_type)
    return None if price is None else instance_seconds / 3600 * price
