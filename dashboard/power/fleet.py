"""Watching the fleet: RQ's workers and what each runs on, the queue, DynamoDB's waiting items, endpoints.

Reads only (the endpoints' status is cached in Redis for a few seconds because the panel polls).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from rq import Worker
from rq.registry import StartedJobRegistry

from classifier.contracts import (
    CUDA_MEMORY_FIELDS,
    ENGINE_STAT_FIELDS,
    MODEL_LOAD_ERROR_FIELD,
    WORKER_META_PREFIX,
    timestamp_of,
)
from dashboard.aws import dynamodb, sagemaker
from dashboard.compute.base import PENDING, RUNNING, Instance
from dashboard.compute.policy import InstanceView
from dashboard.exceptions import EndpointStatusUnavailable
from dashboard.power.state import ENDPOINTS_CACHE_KEY, json_get, redis
from dashboard.queue import finetune_queue, inference_queue

ENDPOINTS_CACHE_SECONDS = 15

log = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    # redis-py types replies as either: the queue's client returns bytes, one made with
    # decode_responses=True would return str.
    return value.decode() if isinstance(value, bytes) else value


def workers_status() -> list[dict[str, Any]]:
    """The inference queue's RQ workers with what each published about its model (`inference:worker:<name>`).

    Workers of other queues (the web tier's `webhooks`) run no model and sit on no GPU instance.
    """
    connection = redis()
    now = datetime.now(UTC)
    found = []
    for worker in Worker.all(connection=connection, queue=inference_queue()):
        meta = {_text(k): _text(v) for k, v in connection.hgetall(WORKER_META_PREFIX + worker.name).items()}
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
                "model_load_error": meta.get(MODEL_LOAD_ERROR_FIELD, ""),
                **_memory_of(meta),
            }
        )
    return sorted(found, key=lambda w: w["name"])


def _memory_of(meta: dict[str, str]) -> dict[str, int | None]:
    """The worker's published memory figures and out-of-memory counters as numbers (None where absent or
    not applicable, e.g. GPU memory on a CPU worker, or a worker from before they were published)."""
    names = (*CUDA_MEMORY_FIELDS, "rss_bytes", *ENGINE_STAT_FIELDS)
    return {name: int(meta[name]) if meta.get(name, "").isdigit() else None for name in names}


def queue_counts() -> dict[str, int]:
    """Jobs waiting, running and failed on the queues the worker hosts serve: classification and fine-tuning.

    A fine-tune counts as work like classification does, so it powers a host on and keeps it on.
    """
    queues = [inference_queue(), finetune_queue()]
    return {
        "queued": sum(queue.count for queue in queues),
        "running": sum(StartedJobRegistry(queue=queue).count for queue in queues),
        "failed": sum(queue.failed_job_registry.count for queue in queues),
    }


def store_counts(*, now: float | None = None) -> dict[str, Any]:
    """Queued and running items in DynamoDB (by_status), ignoring orphans older than POWER_ORPHAN_AFTER."""
    now = time.time() if now is None else now
    cutoff = timestamp_of(datetime.fromtimestamp(now - settings.POWER_ORPHAN_AFTER, UTC))
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


def oldest_queued_created_at() -> str | None:
    """When the longest-waiting item was submitted, or None when nothing waits. Raises StoreUnavailable."""
    item = next(dynamodb.items_with_status(status="queued", limit=1), None)
    return item["created_at"] if item else None


def instance_views(instances: list[Instance], workers: list[dict[str, Any]]) -> tuple[InstanceView, ...]:
    """What the policy needs to know of each instance: its state, and whether its worker is there and busy."""
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


def endpoints_status(*, now: float | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The endpoint backend's endpoints for the panel, and an error, if any.

    The describes are cached for a few seconds (the panel polls); the timers, pauses and usage are read
    fresh. What a fresh describe sees billing counts towards today's endpoint-hours.
    """
    from dashboard import endpoints as endpoint_backends
    from dashboard.endpoints.base import Endpoint
    from dashboard.endpoints.status import endpoint_rows
    from dashboard.endpoints.usage import endpoint_usage_observe

    now = time.time() if now is None else now
    try:
        backend = endpoint_backends.backend()
        managed = backend.endpoint_names()
        listed = backend.name == "aws" and "*" in settings.SAGEMAKER_ENDPOINTS
        if not managed and not listed:
            return [], None
        cached = json_get(ENDPOINTS_CACHE_KEY)
        if cached is not None:
            found = [Endpoint(**_endpoint_fields(e)) for e in cached["endpoints"]]
            error = cached["error"]
        else:
            found, error = _endpoints_described(backend, managed, listed=listed)
            endpoint_usage_observe([e for e in found if e.name in managed], now=now)
            redis().set(
                ENDPOINTS_CACHE_KEY,
                json.dumps(
                    {"endpoints": [asdict(e) for e in found], "error": error},
                    default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
                ),
                ex=ENDPOINTS_CACHE_SECONDS,
            )
        return endpoint_rows(found, managed=managed, now=now), error
    except Exception as error:  # one source failing never blanks the panel
        log.exception("the endpoints' status cannot be read")
        return [], f"Endpoints cannot be read: {error}"


def endpoints_status_forget() -> None:
    """Drop the cached describes, so the next panel shows what a staff action just changed."""
    redis().delete(ENDPOINTS_CACHE_KEY)


def _endpoint_fields(cached: dict[str, Any]) -> dict[str, Any]:
    if cached.get("last_modified"):
        cached["last_modified"] = datetime.fromisoformat(cached["last_modified"])
    return cached


def _endpoints_described(backend: Any, managed: list[str], *, listed: bool) -> tuple[list[Any], str | None]:
    from dashboard.endpoints.base import Endpoint

    names = list(managed)
    error = None
    if listed:
        try:
            names += [n for n in sagemaker.endpoints_list() if n not in names]
        except EndpointStatusUnavailable as list_error:
            error = str(list_error)
    found = []
    for name in names:
        try:
            found.append(backend.endpoint_describe(name))
        except EndpointStatusUnavailable as one_error:
            found.append(Endpoint(name=name, state="Unknown", failure_reason=str(one_error)))
    return found, error
