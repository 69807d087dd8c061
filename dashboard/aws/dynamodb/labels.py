"""People's labels on done items, and the review queue: done items nobody has labelled, least confident first.

A label is one conditional update: the item must be done and still carry the label the caller read
(none, or the one being changed), so two people labelling the same item at once never both win and
the evaluation counts kept beside it (`dashboard.labels`) follow the item exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.schema import INDEX_BY_REVIEW, REVIEW_ATTRIBUTES, review_attributes

REVIEW_READ = 200  # index entries per Query while filling a page of the review queue


def _unchanged_since(previous: str | None) -> tuple[str, dict[str, Any]]:
    """The condition that the item is done and its person's label is still `previous` (None: none yet)."""
    values: dict[str, Any] = {":done": {"S": "done"}}
    if previous is None:
        return "attribute_exists(id) AND #s = :done AND attribute_not_exists(human_label_name)", values
    return "attribute_exists(id) AND #s = :done AND human_label_name = :previous", values | {
        ":previous": {"S": previous}
    }


def item_label_set(
    *, item_id: str, label: int, label_name: str, labelled_by: str, previous: str | None
) -> dict[str, Any]:
    """Record a person's label on a done item, taking it out of the review queue; return the item as stored.

    `previous` is the label name the caller read (None when it had none). Raises ItemConflict when the
    item is no longer done with that label: someone labelled it meanwhile, or it was re-run.
    """
    condition, values = _unchanged_since(previous)
    response = wire.call(
        "update_item",
        TableName=wire.table_name(),
        Key={"id": {"S": item_id}},
        UpdateExpression=(
            "SET human_label = :label, human_label_name = :name, labelled_by = :by, labelled_at = :now"
            " REMOVE " + ", ".join(REVIEW_ATTRIBUTES)
        ),
        ConditionExpression=condition,
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values
        | {
            ":label": {"N": str(int(label))},
            ":name": {"S": label_name},
            ":by": {"S": labelled_by},
            ":now": {"S": wire.now_iso()},
        },
        ReturnValues="ALL_NEW",
    )
    return wire.from_wire(response["Attributes"])


def item_label_clear(*, item: dict[str, Any]) -> dict[str, Any]:
    """Take a person's label off a done item (an undo), putting it back in the review queue.

    `item` is the item as the caller read it; raises ItemConflict when its label changed since.
    """
    condition, values = _unchanged_since(item.get("human_label_name"))
    keys = review_attributes(status="done", model=item.get("model"), confidence=item.get("confidence"))
    update = "REMOVE human_label, human_label_name, labelled_by, labelled_at"
    if keys:
        update = "SET " + ", ".join(f"{key} = :{key}" for key in keys) + " " + update
    response = wire.call(
        "update_item",
        TableName=wire.table_name(),
        Key={"id": {"S": item["id"]}},
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values | {f":{key}": value for key, value in keys.items()},
        ReturnValues="ALL_NEW",
    )
    return wire.from_wire(response["Attributes"])


def review_queue(
    *, model: str, limit: int, after: tuple[float, str] | None = None, below: float | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` done, unlabelled items of `model`, least confident first.

    `after` is the (confidence, id) of the last item already shown, so a skipped item is not shown
    again; `below` keeps only items less confident than that. One Query on the sparse review index
    per REVIEW_READ entries: the cost follows the queue's length, never the table's.
    """
    key = "idx_review = :model"
    values: dict[str, Any] = {":model": {"S": model}}
    if below is not None:
        key += " AND idx_confidence < :below"
        values[":below"] = wire.encode(float(below))
    kwargs: dict[str, Any] = {
        "TableName": wire.table_name(),
        "IndexName": INDEX_BY_REVIEW,
        "KeyConditionExpression": key,
        # An item re-run after it was labelled gets its review keys back with its new result.
        "FilterExpression": "attribute_not_exists(human_label_name)",
        "ExpressionAttributeValues": values,
        "Limit": REVIEW_READ,
    }
    if after is not None:
        confidence, item_id = after
        kwargs["ExclusiveStartKey"] = {
            "id": {"S": item_id},
            "idx_review": {"S": model},
            "idx_confidence": wire.encode(float(confidence)),
        }
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        response = wire.call("query", **kwargs)
        found.extend(wire.from_wire(raw) for raw in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:limit]


def items_labelled_iter() -> Iterator[dict[str, Any]]:
    """Every item with a person's label: a Scan of the whole table, for `manage.py labels_rebuild` only."""
    scan = wire.paginate("scan", TableName=wire.table_name(), FilterExpression="attribute_exists(human_label_name)")
    for response in scan:
        for raw in response.get("Items", []):
            yield wire.from_wire(raw)
