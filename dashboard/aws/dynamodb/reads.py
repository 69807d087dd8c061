"""Batch and chart reads: items by id or status, a batch's progress and items, the charts' counts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.retry import Backoff
from dashboard.aws.dynamodb.schema import INDEX_BY_BATCH, INDEX_BY_CREATED, INDEX_BY_LABEL, INDEX_BY_STATUS

BATCH_ID_PAGE = 1000  # ids per Query when reading a batch (DynamoDB caps a response at 1 MB)

# The Query loops here read to the end and need nothing DynamoDB-specific, so they use boto3's
# paginator (`wire.paginate`); BatchGetItem's UnprocessedKeys has no paginator and is retried by hand.


def items_with_status(*, status: str, limit: int = 1000) -> Iterator[dict[str, Any]]:
    """Items in one status, oldest first, through the status index."""
    if limit <= 0:
        return
    responses = wire.paginate(
        "query",
        TableName=wire.table_name(),
        IndexName=INDEX_BY_STATUS,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
        PaginationConfig={"MaxItems": limit, "PageSize": min(100, limit)},
    )
    for response in responses:
        for raw in response.get("Items", []):
            yield wire.from_wire(raw)


def items_get_many(*, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Items by id, in chunks of 100 (BatchGetItem's limit); missing ids are left out.

    Raises StoreThrottled if DynamoDB keeps leaving keys unprocessed (see `retry.Backoff`).
    """
    found: dict[str, dict[str, Any]] = {}
    for raw in batch_get(list(dict.fromkeys(item_ids))):
        item = wire.from_wire(raw)
        found[item["id"]] = item
    return found


def batch_get(ids: list[str], *, consistent: bool = False) -> list[dict[str, Any]]:
    """The raw items for these (distinct) ids, 100 keys a call, retrying unprocessed keys with backoff."""
    raws: list[dict[str, Any]] = []
    backoff = Backoff()
    table = wire.table_name()
    limit = wire.BATCH_GET_LIMIT
    for start in range(0, len(ids), limit):
        keys: dict[str, Any] = {"Keys": [{"id": {"S": i}} for i in ids[start : start + limit]]}
        if consistent:
            keys["ConsistentRead"] = True
        request: dict[str, Any] = {table: keys}
        backoff.restart()
        while True:
            response = wire.call("batch_get_item", RequestItems=request)
            raws.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            pending = len(request.get(table, {}).get("Keys", []))
            backoff.wait(left=pending + max(0, len(ids) - start - limit), what="keys")
    return raws


def batch_status_counts(*, batch_id: str) -> dict[str, int]:
    """How many of a batch's items are in each status, read from the narrow `by_batch` index."""
    counts = dict.fromkeys(wire.STATUSES, 0)
    responses = wire.paginate(
        "query",
        TableName=wire.table_name(),
        IndexName=INDEX_BY_BATCH,
        KeyConditionExpression="batch_id = :b",
        ProjectionExpression="#s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":b": {"S": batch_id}},
    )
    for response in responses:
        for raw in response.get("Items", []):
            status = raw.get("status", {}).get("S", "")
            counts[status] = counts.get(status, 0) + 1
    return counts


def batch_item_statuses(*, batch_id: str) -> Iterator[tuple[str, str]]:
    """(id, status) of each of a batch's items, from the narrow `by_batch` index (eventually consistent)."""
    responses = wire.paginate(
        "query",
        TableName=wire.table_name(),
        IndexName=INDEX_BY_BATCH,
        KeyConditionExpression="batch_id = :b",
        ProjectionExpression="id, #s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":b": {"S": batch_id}},
        PaginationConfig={"PageSize": BATCH_ID_PAGE},
    )
    for response in responses:
        for raw in response.get("Items", []):
            yield raw["id"]["S"], raw.get("status", {}).get("S", "")


def batch_items_iter(*, batch_id: str) -> Iterator[dict[str, Any]]:
    """A batch's items in submission order: ids from `by_batch`, then the items 100 at a time."""
    responses = wire.paginate(
        "query",
        TableName=wire.table_name(),
        IndexName=INDEX_BY_BATCH,
        KeyConditionExpression="batch_id = :b",
        ExpressionAttributeValues={":b": {"S": batch_id}},
        ProjectionExpression="id",
        PaginationConfig={"PageSize": BATCH_ID_PAGE},
    )
    for response in responses:
        ids = [raw["id"]["S"] for raw in response.get("Items", [])]
        for start in range(0, len(ids), wire.BATCH_GET_LIMIT):
            chunk = ids[start : start + wire.BATCH_GET_LIMIT]
            found = items_get_many(item_ids=chunk)
            yield from (found[item_id] for item_id in chunk if item_id in found)


def items_created_since(*, created_from: str, until: str | None = None) -> Iterator[dict[str, Any]]:
    """Items created at or after `created_from` (timestamps only), for the dashboard's charts.

    The months read run from `created_from`'s to `until`'s (default: now), so a caller that says
    what "now" is gets the months of that moment, not of the real clock.
    """
    month = (until or wire.now_iso())[:7]
    while month >= created_from[:7]:
        responses = wire.paginate(
            "query",
            TableName=wire.table_name(),
            IndexName=INDEX_BY_CREATED,
            KeyConditionExpression="created_month = :m AND created_at >= :from",
            ProjectionExpression="created_at, started_at, finished_at, #s, label_name",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":m": {"S": month}, ":from": {"S": created_from}},
        )
        for response in responses:
            for raw in response.get("Items", []):
                yield {key: wire.value_decode(key, value) for key, value in raw.items()}
        month = wire.previous_month(month)


def label_count_since(*, label: str, created_from: str) -> int:
    """How many items got this label among those created since `created_from` (a COUNT Query)."""
    responses = wire.paginate(
        "query",
        TableName=wire.table_name(),
        IndexName=INDEX_BY_LABEL,
        KeyConditionExpression="idx_label = :l AND created_at >= :from",
        ExpressionAttributeValues={":l": {"S": label}, ":from": {"S": created_from}},
        Select="COUNT",
    )
    return sum(response.get("Count", 0) for response in responses)


def status_count(*, status: str) -> int:
    """How many items are in one status (a COUNT Query on the status index: no item is returned).

    DynamoDB still reads the whole partition to count it, so a large finished status costs reads in
    proportion; callers cache it (the metrics collector keeps it a minute).
    """
    responses = wire.paginate(
        "query",
        TableName=wire.table_name(),
        IndexName=INDEX_BY_STATUS,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
        Select="COUNT",
    )
    return sum(response.get("Count", 0) for response in responses)
