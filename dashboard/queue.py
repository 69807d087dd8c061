"""Enqueueing inference jobs. Jobs are named by dotted path so this process never imports torch."""

from __future__ import annotations

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

from dashboard.exceptions import QueueUnavailable

CLASSIFY_JOB = "classifier.jobs.classify_items"


def inference_queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


def classify_enqueue(*, item_ids: list[str]) -> str:
    """Enqueue one job for these items; returns the job id."""
    try:
        job = inference_queue().enqueue(CLASSIFY_JOB, item_ids, result_ttl=3600, failure_ttl=7 * 86400)
    except RedisError as error:
        raise QueueUnavailable(f"The job queue (Redis) is unreachable: {error}") from error
    return job.id
