"""The `webhooks` queue and its jobs' dotted paths: the inference worker enqueues here, cheaply.

Every enqueue here is best effort: a finished item is already stored, and losing its event to a
Redis outage must never fail the classification that produced it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from redis.exceptions import RedisError
from rq import Queue

from dashboard.queue import redis_connection

log = logging.getLogger(__name__)

ITEMS_FINISHED_JOB = "dashboard.webhooks.jobs.items_finished"
BATCH_CHECK_JOB = "dashboard.webhooks.jobs.batch_check"
DELIVERY_SEND_JOB = "dashboard.webhooks.jobs.delivery_send"
# Finished jobs' results are not read; failed ones are kept a week for a look in the queue pages.
_KEEP = {"result_ttl": 600, "failure_ttl": 7 * 86400}


def webhooks_queue() -> Queue:
    return django_rq.get_queue(settings.WEBHOOKS_QUEUE, connection=redis_connection())


def items_finished_enqueue(*, item_ids: list[str]) -> None:
    """One job for items whose outcomes were just written: it makes their events, on the web tier.

    Unread for a day (no webhooks worker running), the job expires rather than pile up.
    """
    if not item_ids:
        return
    try:
        webhooks_queue().enqueue(ITEMS_FINISHED_JOB, list(item_ids), ttl=settings.WEBHOOK_RETRY_WINDOW_S, **_KEEP)
    except RedisError as error:
        log.warning("webhook events for %d item(s) were not queued: %s", len(item_ids), error)


def batch_check_enqueue(*, batch_id: str, attempt: int, delay_s: float = 0) -> None:
    _enqueue(BATCH_CHECK_JOB, batch_id, attempt, delay_s=delay_s)


def delivery_send_enqueue(*, delivery_id: int, attempt: int, delay_s: float = 0) -> None:
    _enqueue(DELIVERY_SEND_JOB, delivery_id, attempt, delay_s=delay_s)


def _enqueue(path: str, *args: object, delay_s: float) -> None:
    queue = webhooks_queue()
    try:
        if delay_s > 0:  # run by the worker's scheduler (`manage.py webhooks_worker`)
            queue.enqueue_in(timedelta(seconds=delay_s), path, *args, **_KEEP)
        else:
            queue.enqueue(path, *args, **_KEEP)
    except RedisError as error:
        log.error("webhook job %s%r was not queued: %s", path, args, error)
