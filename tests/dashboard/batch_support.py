"""What the batch tests share (the page's in views/, the API's in api/): the worker's side of a batch."""

from __future__ import annotations

from collections.abc import Container

from dashboard.aws import dynamodb


def items_table_is_empty() -> bool:
    return dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=5).items == []


def batch_items_finish(*, batch_id: str, fail: Container[str] = frozenset()) -> None:
    """Finish a batch's items through the calls the worker makes (claim, then done or failed)."""
    for item in list(dynamodb.batch_items_iter(batch_id=batch_id)):
        dynamodb.item_claim(item_id=item["id"], claimed_by="t")
        if item["id"] in fail:
            dynamodb.item_finish(item_id=item["id"], status="failed", claimed_by="t", error="bad", model="m")
        else:
            dynamodb.item_finish(
                item_id=item["id"],
                status="done",
                claimed_by="t",
                label=1,
                label_name="positive",
                confidence=0.7,
                model="m",
            )
