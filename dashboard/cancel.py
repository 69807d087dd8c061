"""Cancelling work: one item, a selection, or a batch. Writes, each audited.

`cancelled` is terminal. The cancel is a conditional update (queued or running -> cancelled) in
DynamoDB, the record of what was accepted; then the jobs left with nothing to do are taken off the
queue. What happens to work already claimed:

- a queued item is never claimed afterwards (claims are conditional on `queued`), by its own job
  or by another job's micro-batch;
- a running item is cancelled too: its worker still computes it, but the finish is conditional on
  `running` and the claim being its own, so the result is dropped (`classifier.jobs`, without a
  retry or a warning about lost items);
- the reconciler only looks at queued and running items, so it never brings a cancelled one back.

Users cancel their own items and batches; staff cancel anyone's. Someone else's item is "not
found", as if it did not exist, so ids cannot be probed.
"""

from __future__ import annotations

import logging
from typing import Any

from dashboard import audit
from dashboard.aws import dynamodb
from dashboard.exceptions import ItemNotFound, QueueUnavailable
from dashboard.queue import classify_jobs_remove
from dashboard.result_events import results_announce

log = logging.getLogger(__name__)

REASON_MAX_CHARS = 500


def reason_clean(reason: object) -> str:
    """The reason as stored: a string, trimmed, at most REASON_MAX_CHARS characters."""
    return str(reason or "").strip()[:REASON_MAX_CHARS]


def item_cancel_allowed(*, item: dict[str, Any], user: Any) -> bool:
    """Whether `user` may cancel this item: staff, or the user who submitted it."""
    if getattr(user, "is_staff", False):
        return True
    return bool(item.get("submitted_by")) and item.get("submitted_by") == user.get_username()


def batch_cancel_allowed(*, batch: Any, user: Any) -> bool:
    return bool(getattr(user, "is_staff", False) or (batch.created_by_id and batch.created_by_id == user.pk))


def submission_cancel(*, item_id: str, user: Any, reason: str = "") -> dict[str, Any]:
    """Cancel one queued or running item. Returns it, cancelled.

    Raises ItemNotFound (no such item, or not the user's), ItemConflict (finished already, with its
    status in the message), StoreUnavailable.
    """
    item = dynamodb.item_get(item_id=item_id)
    if not item_cancel_allowed(item=item, user=user):
        raise ItemNotFound(f"No result with id {item_id!r}")
    reason = reason_clean(reason)
    cancelled = dynamodb.item_cancel(item_id=item_id, cancelled_by=user.get_username(), reason=reason)
    results_announce(item_ids=[item_id])  # a long poll on it answers now
    _jobs_remove([item_id])
    _audit(user, target=item_id, count=1, detail=_detail(reason, left=0))
    return cancelled


def items_cancel(*, item_ids: list[str], user: Any, reason: str = "") -> dict[str, list[str]]:
    """Cancel the queued or running items among `item_ids` that `user` may cancel.

    Returns {"cancelled": [...], "left": [...]}: left are the finished, missing or other users' items.
    """
    ids = list(dict.fromkeys(item_ids))
    found = dynamodb.items_get_many(item_ids=ids)
    allowed = [
        item_id
        for item_id in ids
        if item_id in found
        and found[item_id]["status"] in dynamodb.CANCELLABLE
        and item_cancel_allowed(item=found[item_id], user=user)
    ]
    reason = reason_clean(reason)
    cancelled, _ = dynamodb.items_cancel_many(item_ids=allowed, cancelled_by=user.get_username(), reason=reason)
    results_announce(item_ids=cancelled)
    _jobs_remove(cancelled)
    done = set(cancelled)
    left = [item_id for item_id in ids if item_id not in done]
    _audit(user, target="selection", count=len(cancelled), detail=_detail(reason, left=len(left)))
    return {"cancelled": cancelled, "left": left}


def batch_cancel(*, batch: Any, user: Any, reason: str = "") -> dict[str, list[str]]:
    """Cancel every queued or running item of a batch (the caller checked `batch_cancel_allowed`).

    The batch's index is eventually consistent: an item it still shows as queued that has finished
    meanwhile is left alone by the conditional update. Returns {"cancelled": [...], "left": [...]}.
    """
    live = [
        item_id for item_id, status in dynamodb.batch_item_statuses(batch_id=batch.id) if status in dynamodb.CANCELLABLE
    ]
    reason = reason_clean(reason)
    cancelled, left = dynamodb.items_cancel_many(item_ids=live, cancelled_by=user.get_username(), reason=reason)
    results_announce(item_ids=cancelled)
    _jobs_remove(cancelled)
    _audit(user, target=f"batch {batch.id}", count=len(cancelled), detail=_detail(reason, left=len(left)))
    return {"cancelled": cancelled, "left": left}


def _jobs_remove(item_ids: list[str]) -> None:
    """Take the jobs left with nothing to do off the queue; if Redis is away they run as no-ops later."""
    if not item_ids:
        return
    try:
        removed = classify_jobs_remove(item_ids=item_ids)
    except QueueUnavailable as error:
        log.warning("cancelled %d item(s) but could not remove their jobs: %s", len(item_ids), error)
        return
    if removed:
        log.info("removed %d job(s) whose items were all cancelled", len(removed))


def _detail(reason: str, *, left: int) -> str:
    parts = [f"reason: {reason}" if reason else "no reason given"]
    if left:
        parts.append(f"{left} finished, missing or not theirs left alone")
    return "; ".join(parts)


def _audit(user: Any, *, target: str, count: int, detail: str) -> None:
    audit.audit_record(
        kind="data", actor=user, action="cancel", target=target, outcome="ok", count=count, detail=detail
    )
