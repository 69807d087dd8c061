"""The `webhooks` queue's job functions, run by `manage.py webhooks_worker`.

Thin: each takes ids and calls the module that does the work. Named by dotted path in
`dashboard.webhooks.queue`.
"""

from __future__ import annotations

from dashboard.queue import redis_connection
from dashboard.webhooks import delivery, events
from dashboard.webhooks.queue import batch_check_enqueue

# A batch whose items have all finished may still show some as running for a moment (its index is
# eventually consistent): it is looked at again, this often, this many times.
BATCH_CHECK_DELAY_S = 10.0
BATCH_CHECKS = 30


# How often the webhooks workers, together, look for deliveries whose job was lost
# (`delivery.deliveries_resume`): a Redis key, since each job runs in a fork of its worker.
RESUME_EVERY_S = 60
RESUME_KEY = "console:webhooks:resumed"


def items_finished(item_ids: list[str]) -> int:
    made = events.items_finished_handle(item_ids=item_ids)
    if redis_connection().set(RESUME_KEY, "1", nx=True, ex=RESUME_EVERY_S):
        delivery.deliveries_resume()
    return made


def batch_check(batch_id: str, attempt: int = 0) -> bool:
    """Emit the batch's end event if it has ended; otherwise look again shortly."""
    from dashboard.selectors import batch_get
    from dashboard.services import batch_progress

    batch = batch_get(batch_id=batch_id)
    if batch is None:
        return False
    counts = batch_progress(batch=batch)
    if batch.completed_at is not None:
        return events.batch_end_handle(batch=batch, counts=counts)
    if attempt + 1 < BATCH_CHECKS:
        batch_check_enqueue(batch_id=batch_id, attempt=attempt + 1, delay_s=BATCH_CHECK_DELAY_S)
    return False


def delivery_send(delivery_id: int, attempt: int) -> str:
    return delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)
