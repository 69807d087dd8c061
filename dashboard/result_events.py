"""Result events: the worker announces each result it stores, and a long poll waits for that.

The worker publishes on the item's own Redis channel (`classifier.contracts.result_channel`) once
its outcome is written, and so does a cancel; `GET /api/v1/submissions/<id>?wait=N` subscribes to
the channel and answers as soon as a message comes. A message is either the item's id, meaning
"read it again", or the item's public fields as the worker's conditional write returned them
(`ReturnValues`), which the wait answers with as they are, saving a read. Either way the answer is
the item as DynamoDB stored it, and a lost, late or repeated message never changes what a client
sees, only when. Nothing is stored in Redis (pub/sub keeps no backlog).

Events go through the queue's own Redis client (`dashboard.queue.redis_connection`), whose short
socket timeouts end a wait on time even when Redis hangs rather than refuses. A wait holds one
request thread and one Redis connection, never a database connection, and reads
the item once per SUBMISSION_WAIT_POLL_S besides (a missed message, an item the reconciler failed,
Redis away): at most wait / poll + 2 reads. Redis being away costs latency, never an error.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from redis.client import PubSub
from redis.exceptions import RedisError

from classifier.contracts import result_channel
from dashboard.aws import dynamodb
from dashboard.queue import redis_connection
from dashboard.selectors import submission_public

log = logging.getLogger(__name__)

PENDING = ("queued", "running")  # the states a wait waits out; every other one is final

_waiters: dict[tuple[int, int], threading.BoundedSemaphore] = {}
_lock = threading.Lock()


def results_announce(*, item_ids: Iterable[str], items: Mapping[str, dict[str, Any]] | None = None) -> None:
    """Wake the waits on these items, whose outcomes are stored. One round trip; never raises.

    Called after the write: a wait woken before it would read the old state and wait again. `items`
    holds stored items as the write returned them; those are sent whole, the rest as their id.
    """
    ids, items = list(item_ids), items or {}
    if not ids:
        return
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for item_id in ids:
            known = items.get(item_id)
            message = json.dumps(submission_public(known)) if known is not None else item_id
            pipe.publish(result_channel(item_id), message)
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
            announced = subscription.wait(min(left, settings.SUBMISSION_WAIT_POLL_S))
            if announced is not None and announced.get("id") == item_id and announced.get("status") not in PENDING:
                return item | announced
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

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """Return when a message comes or `timeout` seconds have passed: the item the message holds,
        or None (a bare id, or no message)."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            if self.pubsub is None:
                time.sleep(left)
                return None
            try:
                message = self.pubsub.get_message(timeout=left)
            except RedisError as error:
                self._lost(error)
                continue
            if message is not None:
                return _announced_item(message.get("data"))
        return None

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


def _announced_item(data: Any) -> dict[str, Any] | None:
    """The item a result message carries, or None for a bare id (or anything else)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str) or not data.startswith("{"):
        return None
    try:
        item = json.loads(data)
    except ValueError:
        return None
    return item if isinstance(item, dict) else None
