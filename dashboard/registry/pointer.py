"""The serving version in Redis: written by a promote, read by every worker between jobs."""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import RedisError

from classifier.contracts import SERVING_MODEL_KEY
from dashboard.exceptions import QueueUnavailable


def _connection() -> Any:
    from dashboard.queue import redis_connection

    return redis_connection()


def serving_pointer_set(*, version_id: str, source: str) -> None:
    try:
        _connection().set(SERVING_MODEL_KEY, json.dumps({"id": version_id, "source": source}))
    except RedisError as error:
        raise QueueUnavailable(f"Redis did not take the serving version: {error}") from error


def serving_pointer_get() -> dict[str, str] | None:
    """{"id", "source"} of the version workers are told to serve, or None (they serve CLASSIFIER_MODEL)."""
    try:
        raw = _connection().get(SERVING_MODEL_KEY)
    except RedisError as error:
        raise QueueUnavailable(f"Redis cannot be read: {error}") from error
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("id") and value.get("source") else None
