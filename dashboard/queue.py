"""Enqueueing inference jobs. Jobs are named by dotted path so this process never imports torch."""

from __future__ import annotations

import django_rq
from django.conf import settings
from redis.exceptions import RedisError
from rq import Retry

from dashboard.exceptions import QueueUnavailable

CLASSIFY_JOB = "classifier.jobs.classify_items"


def inference_queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


def classify_enqueue(*, item_ids: list[str]) -> str:
    """Enqueue one job for these items; returns the job id.

    The job carries an RQ `Retry`: a run that fails (DynamoDB away at the result write) or is
    abandoned (its worker killed) runs again under the same id, which may take back the items it
    holds. The backoff between runs is the job's own (`classifier.jobs._retry_pause`), because RQ's
    interval retries need a scheduler process forked beside the CUDA worker.
    """
    try:
        job = inference_queue().enqueue(
            CLASSIFY_JOB,
            item_ids,
            result_ttl=3600,
            failure_ttl=7 * 86400,
            retry=Retry(max=settings.INFERENCE_JOB_RETRIES),
        )
    except RedisError as error:
        raise QueueUnavailable(f"The job queue (Redis) is unreachable: {error}") from error
    return job.id
