"""Enqueueing inference jobs. Jobs are named by dotted path so this process never imports torch."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import django_rq
import structlog
from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from classifier.contracts import CLASSIFY_JOB, LOG_CONTEXT_KEY, log_context_fields
from dashboard.exceptions import QueueUnavailable

log = logging.getLogger(__name__)

_connections: dict[tuple, Redis] = {}
_connections_lock = threading.Lock()


def redis_connection() -> Redis:
    """The process's Redis client for the inference queue, made once (measured by bench/load.py).

    `django_rq.get_connection` builds a new client, pool and TCP connection on every call; at
    hundreds of submissions a second the connects were a third of the request. The client is
    thread-safe and keyed by pid (gunicorn and RQ fork) and URL (tests point the queue elsewhere).
    """
    config = settings.RQ_QUEUES[settings.INFERENCE_QUEUE]
    key = (os.getpid(), config.get("URL"), config.get("DB"))
    connection = _connections.get(key)
    if connection is None:
        with _connections_lock:
            if key not in _connections:
                _connections.clear()
                _connections[key] = django_rq.get_connection(settings.INFERENCE_QUEUE)
            connection = _connections[key]
    return connection


def inference_queue() -> Queue:
    return django_rq.get_queue(settings.INFERENCE_QUEUE, connection=redis_connection())


def log_context_current() -> dict[str, Any]:
    """The request id, user and batch id bound to this thread's log lines (dashboard.middleware)."""
    bound = structlog.contextvars.get_contextvars()
    return {name: bound[name] for name in ("request_id", "user", "batch_id") if bound.get(name)}


def classify_enqueue(*, item_ids: list[str], log_context: Mapping[str, Any] | None = None) -> str:
    """Enqueue one job for these items; returns the job id.

    The job's meta carries `log_context` (by default the current request's id, user and batch id;
    see classifier.contracts.LOG_CONTEXT_KEY), so the worker's lines for these items name the request.

    The job carries an RQ `Retry`: a run that fails (DynamoDB away at the result write) or is
    abandoned (its worker killed) runs again under the same id, which may take back the items it
    holds. The backoff between runs is the job's own (`classifier.jobs._retry_pause`), because RQ's
    interval retries need a scheduler process forked beside the CUDA worker.
    """
    context = dict(log_context_current() if log_context is None else log_context)
    try:
        job = inference_queue().enqueue(
            CLASSIFY_JOB,
            item_ids,
            result_ttl=3600,
            failure_ttl=7 * 86400,
            retry=Retry(max=settings.INFERENCE_JOB_RETRIES),
            meta={LOG_CONTEXT_KEY: context} if context else None,
        )
    except RedisError as error:
        raise QueueUnavailable(f"The job queue (Redis) is unreachable: {error}") from error
    log.info("job enqueued", extra={"job_id": job.id, "item_ids": item_ids, **log_context_fields(context)})
    return job.id
