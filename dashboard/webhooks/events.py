"""What happened to items and batches, as events, and each event's deliveries.

An event is made once per occurrence (its `key`: an item's finish at its `finished_at`, a batch's
end), so a job that runs twice, or two workers that see the same end, make no second event. Its
deliveries go to the owner's active webhooks that asked for its type, and to the callback URL
its submission or batch named.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard import selectors
from dashboard.aws import dynamodb
from dashboard.models import Batch
from dashboard.queue import redis_connection
from dashboard.webhooks.models import Webhook, WebhookDelivery, WebhookEvent
from dashboard.webhooks.queue import batch_check_enqueue, delivery_send_enqueue

ITEM_EVENTS = {"done": "item.done", "failed": "item.failed"}
# Items of a batch finished so far, counted by the events' jobs: once it reaches the batch's size,
# the batch is checked for its end, without counting the batch in DynamoDB after every micro-batch.
BATCH_FINISHED_KEY = "console:webhooks:batch-finished:"
BATCH_FINISHED_TTL_S = 7 * 86400


def item_data(item: dict[str, Any]) -> dict[str, Any]:
    """An item as its event carries it: the fields the API returns, and its batch."""
    return selectors.submission_public(item) | {"batch_id": item.get("batch_id")}


def items_finished_handle(*, item_ids: list[str]) -> int:
    """Make the events of the done and failed items among `item_ids`. Returns how many were new."""
    items = [i for i in dynamodb.items_get_many(item_ids=item_ids).values() if i["status"] in ITEM_EVENTS]
    owners = _users({item.get("submitted_by") or "" for item in items})
    made = 0
    batches: dict[str, int] = {}
    for item in items:
        if item.get("batch_id"):
            batches[item["batch_id"]] = batches.get(item["batch_id"], 0) + 1
        event_type = ITEM_EVENTS[item["status"]]
        made += event_emit(
            event_type=event_type,
            key=f"{event_type}:{item['id']}:{item.get('finished_at')}",
            data={"item": item_data(item)},
            user=owners.get(item.get("submitted_by") or ""),
            callback_url=item.get("callback_url") or "",
            subject=f"item:{item['id']}",
        )
    for batch_id, count in batches.items():
        _batch_count(batch_id, count)
    return made


def _users(usernames: set[str]) -> dict[str, User]:
    users = get_user_model().objects.filter(username__in=[name for name in usernames if name])
    return {user.get_username(): user for user in users}


def _batch_count(batch_id: str, count: int) -> None:
    key = BATCH_FINISHED_KEY + batch_id
    pipe = redis_connection().pipeline()
    pipe.incrby(key, count)
    pipe.expire(key, BATCH_FINISHED_TTL_S)
    finished = int(pipe.execute()[0])
    total = Batch.objects.filter(pk=batch_id).values_list("total", flat=True).first()
    if total is not None and finished >= total:
        batch_check_enqueue(batch_id=batch_id, attempt=0)


def batch_end_handle(*, batch: Batch, counts: dict[str, int]) -> bool:
    """Make the event of a batch that has ended: `batch.failed` when any item failed, else `batch.complete`."""
    event_type = "batch.failed" if counts.get("failed") else "batch.complete"
    return event_emit(
        event_type=event_type,
        key=f"batch:{batch.id}",
        data={"batch": selectors.batch_public(batch, counts)},
        user=batch.created_by,
        callback_url=batch.callback_url,
        subject=f"batch:{batch.id}",
    )


def event_emit(
    *, event_type: str, key: str, data: dict[str, Any], user: User | None, callback_url: str, subject: str
) -> bool:
    """Make the event and its deliveries together, then queue the deliveries. False: made before."""
    if WebhookEvent.objects.filter(key=key).exists():
        return False
    now = timezone.now()
    event_id = "evt_" + uuid.uuid4().hex
    body = {"id": event_id, "type": event_type, "created": int(now.timestamp()), "data": data}
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                id=event_id, type=event_type, key=key, body=json.dumps(body, separators=(",", ":")), created_at=now
            )
            delivery_ids = deliveries_make(event=event, user=user, callback_url=callback_url, subject=subject)
    except IntegrityError:  # made at the same moment by another worker
        return False
    for delivery_id in delivery_ids:
        delivery_send_enqueue(delivery_id=delivery_id, attempt=0)
    return True


def deliveries_make(*, event: WebhookEvent, user: User | None, callback_url: str, subject: str) -> list[int]:
    """One delivery per active webhook of `user` that takes this event, and one to the callback URL.

    Not queued here: the caller queues them once they are committed."""
    now = timezone.now()
    deliveries = []
    if user is not None:
        for webhook in Webhook.objects.filter(user=user, disabled_at__isnull=True):
            if event.type in webhook.events:
                deliveries.append(
                    WebhookDelivery(
                        event=event, webhook=webhook, user=user, url=webhook.url, created_at=now, next_attempt_at=now
                    )
                )
    if callback_url:
        deliveries.append(
            WebhookDelivery(
                event=event, user=user, url=callback_url, callback_subject=subject, created_at=now, next_attempt_at=now
            )
        )
    for delivery in deliveries:
        delivery.save()
    return [delivery.pk for delivery in deliveries]
