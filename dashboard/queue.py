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

from classifier.contracts import CLASSIFY_JOB, LOG_CONTEXT_KEY, TEXTS_KEY, TEXTS_MAX_CHARS, log_context_fields
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


def redis_hash_read(key: str) -> dict[str, str]:
    """A Redis hash as text ({} when it is absent or Redis does not answer): a worker's progress report."""
    try:
        raw = redis_connection().hgetall(key)
    except RedisError:
        return {}
    return {_text(name): _text(value) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def finetune_queue() -> Queue:
    """The `training` queue: fine-tuning runs (dashboard.finetune), served by the worker hosts."""
    return django_rq.get_queue(settings.FINETUNE_QUEUE, connection=redis_connection())


def log_context_current() -> dict[str, Any]:
    """The request id, user and batch id bound to this thread's log lines (dashboard.middleware)."""
    bound = structlog.contextvars.get_contextvars()
    return {name: bound[name] for name in ("request_id", "user", "batch_id") if bound.get(name)}


def classify_enqueue(
    *, item_ids: list[str], log_context: Mapping[str, Any] | None = None, texts: Mapping[str, str] | None = None
) -> str:
    """Enqueue one job for these items; returns the job id.

    `texts` ({item id: text}, every item's) rides in the job's meta when together they are at most
    `TEXTS_MAX_CHARS` long, so the worker can start the model before its claim returns
    (classifier.contracts.TEXTS_KEY).

    The job's meta carries `log_context` (by default the current request's id, user and batch id;
    see classifier.contracts.LOG_CONTEXT_KEY), so the worker's lines for these items name the request.

    The job carries an RQ `Retry`: a run that fails (DynamoDB away at the result write) or is
    abandoned (its worker killed) runs again under the same id, which may take back the items it
    holds. The backoff between runs is the job's own (`classifier.jobs._retry_pause`), because RQ's
    interval retries need a scheduler process forked beside the CUDA worker.
    """
    context = dict(log_context_current() if log_context is None else log_context)
    meta: dict[str, Any] = {LOG_CONTEXT_KEY: context} if context else {}
    if texts is not None and set(item_ids) <= texts.keys():
        own = {item_id: texts[item_id] for item_id in item_ids}
        if sum(map(len, own.values())) <= TEXTS_MAX_CHARS:
            meta[TEXTS_KEY] = own
    try:
        job = inference_queue().enqueue(
            CLASSIFY_JOB,
            item_ids,
            result_ttl=3600,
            failure_ttl=7 * 86400,
            retry=Retry(max=settings.INFERENCE_JOB_RETRIES),
            meta=meta or None,
        )
    except RedisError as error:
        raise QueueUnavailable(f"The job queue (Redis) is unreachable: {error}") from error
    log.info("job enqueued", extra={"job_id": job.id, "item_ids": item_ids, **log_context_fields(context)})
    return job.id


# Jobs read per Redis round trip when looking for the ones that carry cancelled items.
_FETCH_CHUNK = 500


def classify_jobs_remove(*, item_ids: list[str]) -> list[str]:
    """Take waiting jobs that have nothing left to do off the queue, after `item_ids` were cancelled.

    A job is removed (RQ's cancel: it moves to the canceled registry and never runs) when every one
    of its items is among `item_ids` or otherwise no longer queued or running; a job that still
    carries live work stays, and its run skips the cancelled items (claims are conditional on
    `queued`). Reads the queue's jobs once; returns the ids of the jobs removed.
    """
    from rq.job import Job

    from dashboard.aws import dynamodb

    cancelled = set(item_ids)
    if not cancelled:
        return []
    queue = inference_queue()
    try:
        job_ids = queue.get_job_ids()
        carrying = []
        for start in range(0, len(job_ids), _FETCH_CHUNK):
            jobs = Job.fetch_many(
                job_ids[start : start + _FETCH_CHUNK], connection=queue.connection, serializer=queue.serializer
            )
            for job in jobs:
                if job is not None and job.func_name == CLASSIFY_JOB and job.args:
                    ids = [str(item_id) for item_id in job.args[0]]
                    if cancelled.intersection(ids):
                        carrying.append((job, ids))
        others = {item_id for _, ids in carrying for item_id in ids if item_id not in cancelled}
        live = {
            item_id
            for item_id, item in dynamodb.items_get_many(item_ids=others).items()
            if item["status"] in dynamodb.CANCELLABLE
        }
        removed = []
        for job, ids in carrying:
            if not live.intersection(ids):
                job.cancel()
                removed.append(job.id)
    except RedisError as error:
        raise QueueUnavailable(f"The job queue (Redis) is unreachable: {error}") from error
    return removed
