"""Bulk writes: new items in batches or conditional transactions, deletes, and rolling them back.

BatchWriteItem's UnprocessedItems and a transaction cancelled by a concurrent one are retried with
backoff (`retry.Backoff`), within a time budget per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.items import NEW_ID
from dashboard.aws.dynamodb.retry import Backoff
from dashboard.exceptions import ItemConflict, ItemsExist, StoreThrottled, StoreUnavailable, TransactionCancelled

_RETRYABLE_CANCELLATIONS = {"None", "TransactionConflict", "ThrottlingError"}


def _batch_write(requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25, retrying UnprocessedItems with backoff (see `retry.Backoff`).

    Raises StoreThrottled, with how many requests were left, when the retry time runs out.
    """
    backoff = Backoff()
    table = wire.table_name()
    limit = wire.BATCH_WRITE_LIMIT
    for start in range(0, len(requests), limit):
        pending = requests[start : start + limit]
        backoff.restart()
        while True:
            response = wire.call("batch_write_item", RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            backoff.wait(left=len(pending) + max(0, len(requests) - start - limit), what="items")


def items_put_many(*, items: list[dict[str, Any]]) -> None:
    """Write new items in batches. BatchWriteItem has no conditions: use this only for ids just made
    (uuid4); ids a user chose go through `items_put_new_many`.

    Raises StoreUnavailable (after deleting what was written) if some items could not be stored, so a
    failed batch leaves nothing half-stored.
    """
    try:
        _batch_write([{"PutRequest": {"Item": wire.item_wire(item)}} for item in items])
    except StoreUnavailable:
        _items_roll_back(items)
        raise


def _items_roll_back(items: list[dict[str, Any]]) -> None:
    """Delete items this process just wrote; one that carries a batch id only while it still carries it."""
    by_batch: dict[str, list[str]] = {}
    loose: list[str] = []
    for item in items:
        if item.get("batch_id"):
            by_batch.setdefault(item["batch_id"], []).append(item["id"])
        else:
            loose.append(item["id"])
    items_delete_many(item_ids=loose, ignore_errors=True)
    for batch_id, ids in by_batch.items():
        items_delete_own(item_ids=ids, batch_id=batch_id)


def items_put_new_many(*, items: list[dict[str, Any]], batch_id: str) -> None:
    """Write one batch's new items on condition that every id is new: a stored item is never overwritten.

    Transactions of up to 100 conditional puts, in id order. Two batches that share ids contend first
    for the smallest shared id, which exactly one of them gets; the other stops there, before writing
    any other shared id, so the first goes on and completes. A transaction cancelled by a concurrent
    one (TransactionConflict) is retried with backoff.

    On failure the items written so far are deleted, each only while it still carries `batch_id`, and
    ItemsExist (naming the ids of the chunk that were taken) or StoreUnavailable is raised.
    """
    if any(item.get("batch_id") != batch_id for item in items):
        raise ValueError("every item of the batch must carry its batch_id")
    ordered = sorted(items, key=lambda item: item["id"])
    written: list[str] = []
    for start in range(0, len(ordered), wire.TRANSACT_LIMIT):
        chunk = ordered[start : start + wire.TRANSACT_LIMIT]
        try:
            _transact_put_new(chunk)
        except ItemsExist:
            items_delete_own(item_ids=written, batch_id=batch_id)
            raise
        except StoreUnavailable:
            # The transaction may have been applied before the answer was lost: its items are ours too.
            items_delete_own(item_ids=written + [item["id"] for item in chunk], batch_id=batch_id)
            raise
        written.extend(item["id"] for item in chunk)


def _transact_put_new(chunk: list[dict[str, Any]]) -> None:
    table = wire.table_name()
    actions = [
        {"Put": {"TableName": table, "Item": wire.item_wire(item), "ConditionExpression": NEW_ID}} for item in chunk
    ]
    backoff = Backoff()
    while True:
        try:
            wire.call("transact_write_items", TransactItems=actions)
            return
        except ItemConflict as error:
            reasons = zip(chunk, error.reasons, strict=False)
            taken = [item["id"] for item, reason in reasons if reason == "ConditionalCheckFailed"]
            raise ItemsExist(f"{len(taken)} id(s) already exist: {', '.join(taken[:20])}", ids=taken) from error
        except TransactionCancelled as error:
            if not set(error.reasons) <= _RETRYABLE_CANCELLATIONS:
                raise
            backoff.wait(left=len(chunk), what="items (their transaction kept conflicting with others)")


def items_delete_own(*, item_ids: Iterable[str], batch_id: str, concurrency: int = 16) -> int:
    """Delete items only while they carry `batch_id`, so a rollback never removes an item another batch
    wrote under the same id. Returns how many were deleted; never raises (a rollback is best effort:
    an item it could not reach stays, visible under its batch).

    Transactions of 100 conditional deletes; one that is cancelled (an item is not ours, or is already
    gone) is done item by item instead, so the rest still go.
    """
    ids = list(dict.fromkeys(item_ids))

    def spec(item_id: str) -> dict[str, Any]:
        return {
            "TableName": wire.table_name(),
            "Key": {"id": {"S": item_id}},
            "ConditionExpression": "batch_id = :b",
            "ExpressionAttributeValues": {":b": {"S": batch_id}},
        }

    def delete(item_id: str) -> bool:
        try:
            wire.call("delete_item", **spec(item_id))
        except (ItemConflict, StoreUnavailable):
            return False
        return True

    deleted = 0
    for start in range(0, len(ids), wire.TRANSACT_LIMIT):
        chunk = ids[start : start + wire.TRANSACT_LIMIT]
        try:
            wire.call("transact_write_items", TransactItems=[{"Delete": spec(item_id)} for item_id in chunk])
            deleted += len(chunk)
            continue
        except (ItemConflict, StoreUnavailable):
            pass
        with ThreadPoolExecutor(max_workers=min(concurrency, len(chunk))) as pool:
            deleted += sum(pool.map(delete, chunk))
    return deleted


def items_delete_many(*, item_ids: Iterable[str], ignore_errors: bool = False) -> int:
    """Delete items by id in batches of 25. Returns how many deletes were done."""
    ids = list(dict.fromkeys(item_ids))
    try:
        _batch_write([{"DeleteRequest": {"Key": {"id": {"S": item_id}}}} for item_id in ids])
    except StoreThrottled as error:
        if ignore_errors:
            return len(ids) - error.left
        raise
    except StoreUnavailable:
        if ignore_errors:
            return 0
        raise
    return len(ids)
