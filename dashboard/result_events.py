"""Result events: the worker announces each result it stores, and a long poll waits for that.

The worker publishes on the item's own Redis channel (`classifier.contracts.result_channel`) once
its outcome is written, and so does a cancel; `GET /api/v1/submissions/<id>?wait=N` subscribes to
the channel and reads the item again as soon as a message comes. A message only means "read it
again": the answer is always the item as DynamoDB has it, so a lost, late or repeated message never
changes what a client sees, only when. Nothing is stored in Redis (pub/sub keeps no backlog).

Events go through the queue's own Redis client (`dashboard.queue.redis_connection`), whose short
socket timeouts end a wait on time even when Redis hangs rather than refuses. A wait holds one
request thread and one Redis connection, never a database connection, and reads
the item once per SUBMISSION_WAIT_POLL_S besides (a missed message, an item the reconciler failed,
Redis away): at most wait / poll + 2 reads. Redis being away costs latency, never an error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from redis.client import PubSub
from redis.exceptions import RedisError

from classifier.contracts import result_channel
from dashboard.aws import dynamodb
from dashboard.queue import redis_connection

log = logging.getLogger(__name__)

PENDING = ("queued", "running")  # the states a wait waits out; every other one is final

_waiters: dict[tuple[int, int], threading.BoundedSemaphore] = {}
_lock = threading.Lock()


def results_announce(*, item_ids: Iterable[str]) -> None:
    """Wake the waits on these items, whose outcomes are stored. One round trip; never raises.

    Called after the write: a wait woken before it would read the old state and wait again.
    """
    ids = list(item_ids)
    if not ids:
        return
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for item_id in ids:
            pipe.publish(result_channel(item_id), item_id)
        pipe.execute()
    except RedisError as error:  # the waits find the result at their next read instead
        log.warning("could not announce %d result(s): %s", len(ids), error)


def wait_slot() -> threading.BoundedSemaphore:
    """This process's long-poll slots: SUBMISSION_WAIT_MAX_WAITERS waits at once, so that waits
    never take every request thread of a gunicorn process from the requests behind them."""
    key = (os.getpid(), settings.SUBMISSION_WAIT_MAX_WAITERS)
    with _lock:
        if key not in _waiters:
            _waiters.clear()
            _waiters[key] = threading.BoundedSemaphore(key[1])  # 0: every wait is answered at once
        return _waiters[key]


def submission_wait(*, item_id: str, wait_s: float, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The item as soon as it is no longer queued or running, or as it is after `wait_s` seconds.

    With every slot of this process taken, the item as it is now. Raises what `dynamodb.item_get`
    raises (ItemNotFound, StoreUnavailable). Subscribes before the first read, so a result stored
    between the two is never missed.
    """
    slot = wait_slot()
    if not slot.acquire(blocking=False):
        return dynamodb.item_get(item_id=item_id)
    deadline = clock() + wait_s
    subscription = _Subscription(item_id)
    try:
        while True:
            item = dynamodb.item_get(item_id=item_id)
            left = deadline - clock()
            if item["status"] not in PENDING or left <= 0:
                return item
            subscription.wait(min(left, settings.SUBMISSION_WAIT_POLL_S))
    finally:
        subscription.close()
        slot.release()


class _Subscription:
    """One item's channel, or, with Redis away, a plain pause between reads."""

    def __init__(self, item_id: str) -> None:
        self.pubsub: PubSub | None = None
        try:
            self.pubsub = redis_connection().pubsub(ignore_subscribe_messages=True)
            self.pubsub.subscribe(result_channel(item_id))
        except RedisError as error:
            self._lost(error)

    def wait(self, timeout: float) -> None:
        """Return when a message comes or `timeout` seconds have passed."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            if self.pubsub is None:
                time.sleep(left)
                return
            try:
                if self.pubsub.get_message(timeout=left) is not None:
                    return
            except RedisError as error:
                self._lost(error)

    def close(self) -> None:
        if self.pubsub is not None:
            try:
                self.pubsub.close()
            except RedisError:
                pass
            self.pubsub = None

    def _lost(self, error: RedisError) -> None:
        log.warning(
            "result events unavailable (%s): reading the item every %.1f s", error, settings.SUBMISSION_WAIT_POLL_S
        )
        self.close()
