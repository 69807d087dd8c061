"""Holds: staff keep an instance, or the whole fleet, from being started until they release it.

A hold is a record in Redis, shared by every web process and `power_tick`, so it survives power
checks and restarts of either:

  power:holds   hash: target -> JSON {"by", "reason", "at"}; target is an instance id or FLEET

The policy (`dashboard.compute.policy.decide`) is told which instances are held and starts none of
them; a held instance that is on keeps running and stops when idle, as any other. Work stays queued
meanwhile; nothing is dropped. Setting and releasing a hold is audited by the caller
(`dashboard.power.control`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from dashboard.power.state import redis

HOLDS_KEY = "power:holds"
FLEET = "fleet"  # not an instance id: EC2's are i-..., the local backend's local-N


def hold_set(*, target: str, by: str, reason: str, now: float | None = None) -> dict[str, Any]:
    """Hold `target` (an instance id or FLEET); a second hold replaces the first. Returns the record."""
    record = {"by": by, "reason": reason, "at": time.time() if now is None else now}
    redis().hset(HOLDS_KEY, target, json.dumps(record))
    return record


def hold_release(*, target: str) -> dict[str, Any] | None:
    """Remove the hold on `target`. Returns the record it had, or None when it was not held."""
    connection = redis()
    raw = connection.hget(HOLDS_KEY, target)
    if raw is None or not connection.hdel(HOLDS_KEY, target):
        return None
    record: dict[str, Any] = json.loads(raw)
    return record


def holds_all() -> dict[str, dict[str, Any]]:
    """Every hold, by target."""
    raw = redis().hgetall(HOLDS_KEY)
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in raw.items()}


def held_ids(instance_ids: Iterable[str], holds: dict[str, dict[str, Any]] | None = None) -> frozenset[str]:
    """The ones among `instance_ids` that must not be started: all of them while the fleet is held."""
    holds = holds_all() if holds is None else holds
    ids = frozenset(instance_ids)
    return ids if FLEET in holds else ids & holds.keys()


def hold_notice(instance_ids: Iterable[str]) -> str | None:
    """Why queued work waits, when holds keep every instance off: words for the pages, or None."""
    holds = holds_all()
    if FLEET in holds:
        hold = holds[FLEET]
        return f"waiting: the fleet is held by {hold['by']}: {hold['reason']}"
    ids = sorted(instance_ids)
    if ids and all(i in holds for i in ids):
        return "waiting: " + "; ".join(f"{i} is held by {holds[i]['by']}: {holds[i]['reason']}" for i in ids)
    return None
