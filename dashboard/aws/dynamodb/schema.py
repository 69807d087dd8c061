"""The results table's schema: its indexes, creating it, adding the indexes an older table lacks.

Indexes:
- `by_created` (partition `created_month`, sort `created_at`): newest-first pages without a Scan.
  A month bucket keeps a page to one Query in the common case while spreading a busy year over
  twelve partitions; within a month DynamoDB's adaptive capacity splits a hot partition.
- `by_status` (partition `status`, sort `created_at`): what is queued or running, oldest first.
- `by_label`, `by_model` (partitions `idx_label`, `idx_model`, sort `created_at`): sparse indexes of
  finished items, for the explorer's filters. The key attributes are separate from `label_name` and
  `model` because those carry NULL until known, and a NULL may not be an index key.
- `by_batch` (partition `batch_id`, sort `created_at`, projecting only `status`): a batch's progress.
- `by_review` (partition `idx_review`, the model's name; sort `idx_confidence`, a number): done items
  nobody has labelled yet, least confident first, for review mode. Labelling an item removes its keys.
Why these partition keys, and where they stop scaling: docs/architecture.md, "Explorer indexes".

Every function that writes a finished result must also write `index_attributes(...)`, or the item
will not appear under the label/model filters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from dashboard.aws.dynamodb import wire
from dashboard.exceptions import StoreUnavailable

INDEX_BY_CREATED = "by_created"
INDEX_BY_STATUS = "by_status"
INDEX_BY_LABEL = "by_label"
INDEX_BY_MODEL = "by_model"
INDEX_BY_BATCH = "by_batch"
INDEX_BY_REVIEW = "by_review"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition: str
    projection: tuple[str, ...] | None = None  # None projects ALL attributes
    sort: str = "created_at"
    sort_type: str = "S"


EXPLORER_INDEXES = (
    IndexSpec(INDEX_BY_LABEL, "idx_label"),
    IndexSpec(INDEX_BY_MODEL, "idx_model"),
    IndexSpec(INDEX_BY_BATCH, "batch_id", projection=("status",)),
    IndexSpec(INDEX_BY_REVIEW, "idx_review", sort="idx_confidence", sort_type="N"),
)
# Attributes that key the review index, removed when a person labels the item.
REVIEW_ATTRIBUTES = ("idx_review", "idx_confidence")


def index_attributes(*, status: str, label_name: str | None, model: str | None) -> dict[str, str]:
    """The index-key attributes a finished item carries (absent ones keep it out of that index)."""
    keys: dict[str, str] = {}
    if status == "done" and label_name:
        keys["idx_label"] = str(label_name)
    if status in {"done", "failed"} and model:
        keys["idx_model"] = str(model)
    return keys


def review_attributes(*, status: str, model: str | None, confidence: float | None) -> dict[str, dict[str, Any]]:
    """The review index's keys, as wire values, for a done item nobody has labelled yet."""
    if status != "done" or not model or confidence is None:
        return {}
    return {"idx_review": {"S": str(model)}, "idx_confidence": wire.encode(float(confidence))}


def table_ensure(*, name: str | None = None, wait_seconds: float = 60.0) -> bool:
    """Create the results table with its indexes unless it exists. Returns True when created.

    An existing table gains any index it lacks (one UpdateTable per index, as DynamoDB requires),
    so a table made by an older version keeps its data and gets the explorer's filters.
    """
    name = name or wire.table_name()
    description = table_describe(name=name)
    if description is not None:
        _indexes_ensure(name=name, description=description, wait_seconds=wait_seconds)
        return False
    return table_create(
        name=name,
        attributes={
            "id": "S",
            "created_month": "S",
            "created_at": "S",
            "status": "S",
            **{spec.partition: "S" for spec in EXPLORER_INDEXES},
            **{spec.sort: spec.sort_type for spec in EXPLORER_INDEXES},
        },
        indexes=[
            index_definition(IndexSpec(INDEX_BY_CREATED, "created_month")),
            index_definition(IndexSpec(INDEX_BY_STATUS, "status")),
            *(index_definition(spec) for spec in EXPLORER_INDEXES),
        ],
        wait_seconds=wait_seconds,
    )


def table_describe(*, name: str) -> dict[str, Any] | None:
    """DescribeTable's description of the table, or None when there is no such table."""
    try:
        description: dict[str, Any] = wire.client().describe_table(TableName=name)["Table"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise StoreUnavailable(f"DynamoDB DescribeTable failed: {error}") from error
    except BotoCoreError as error:
        raise StoreUnavailable(f"DynamoDB is unreachable: {error}") from error
    return description


def table_create(*, name: str, attributes: dict[str, str], indexes: list[dict[str, Any]], wait_seconds: float) -> bool:
    """CreateTable keyed on `id` with `attributes` (name → S or N) and these indexes; wait until it is ACTIVE.

    False if it already exists (and then it is not waited for).
    """
    try:
        wire.client().create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": attribute, "AttributeType": kind} for attribute, kind in attributes.items()
            ],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=indexes,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceInUseException":
            return False  # another process created it between our describe and create
        raise StoreUnavailable(f"DynamoDB CreateTable failed: {error}") from error
    table_wait_active(name=name, wait_seconds=wait_seconds)
    return True


def table_wait_active(*, name: str, wait_seconds: float) -> None:
    """Wait for a new table to be ACTIVE (boto3's `table_exists` waiter, polling every second)."""
    try:
        wire.client().get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": max(1, math.ceil(wait_seconds))}
        )
    except WaiterError as error:
        raise StoreUnavailable(f"Table {name!r} did not become ACTIVE within {wait_seconds:.0f} s") from error


def table_delete(*, name: str) -> None:
    try:
        wire.client().delete_table(TableName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise StoreUnavailable(f"DynamoDB DeleteTable failed: {error}") from error


def store_ping() -> None:
    """Raise StoreUnavailable unless the table answers."""
    wire.call("describe_table", TableName=wire.table_name())


def index_definition(spec: IndexSpec) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": "ALL"}
    if spec.projection:
        projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(spec.projection)}
    return {
        "IndexName": spec.name,
        "KeySchema": [
            {"AttributeName": spec.partition, "KeyType": "HASH"},
            {"AttributeName": spec.sort, "KeyType": "RANGE"},
        ],
        "Projection": projection,
    }


def _indexes_ensure(*, name: str, description: dict[str, Any], wait_seconds: float) -> list[str]:
    """Add the explorer's indexes an existing table lacks; back-fill their keys. Returns what was added."""
    present = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
    added: list[str] = []
    for spec in EXPLORER_INDEXES:
        if spec.name in present:
            continue
        try:
            wire.client().update_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": spec.sort, "AttributeType": spec.sort_type},
                    {"AttributeName": spec.partition, "AttributeType": "S"},
                ],
                GlobalSecondaryIndexUpdates=[{"Create": index_definition(spec)}],
            )
        except ClientError as error:
            raise StoreUnavailable(f"DynamoDB UpdateTable (add index {spec.name}) failed: {error}") from error
        _index_wait(name=name, index_name=spec.name, wait_seconds=wait_seconds)
        added.append(spec.name)
    if INDEX_BY_LABEL in added or INDEX_BY_MODEL in added:
        _index_keys_backfill(name=name)
    if INDEX_BY_REVIEW in added:
        _review_keys_backfill(name=name)
    return added


def _index_wait(*, name: str, index_name: str, wait_seconds: float) -> None:
    # A poll, not a waiter: boto3 has no waiter for an index's status (`table_exists` is ACTIVE as soon
    # as the table is, while a new index is still CREATING and back-filling).
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        table = wire.client().describe_table(TableName=name)["Table"]
        states = {index["IndexName"]: index.get("IndexStatus") for index in table.get("GlobalSecondaryIndexes", [])}
        if table["TableStatus"] == "ACTIVE" and states.get(index_name) == "ACTIVE":
            return
        time.sleep(0.5)
    raise StoreUnavailable(f"Index {index_name!r} on {name!r} did not become ACTIVE within {wait_seconds:.0f} s")


def _index_keys_backfill(*, name: str) -> int:
    """Give items finished before the label/model indexes existed their index keys. Returns how many."""

    def keys_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
        keys = index_attributes(status=item["status"], label_name=item["label_name"], model=item["model"])
        return {key: {"S": value} for key, value in keys.items()}

    return _keys_backfill(
        name=name,
        keys_of=keys_of,
        FilterExpression="attribute_not_exists(idx_label) AND attribute_not_exists(idx_model)",
    )


def _review_keys_backfill(*, name: str) -> int:
    """Put the done items nobody has labelled, finished before the review index existed, in it."""
    return _keys_backfill(
        name=name,
        keys_of=lambda item: review_attributes(
            status=item["status"], model=item["model"], confidence=item["confidence"]
        ),
        FilterExpression="#s = :done AND attribute_not_exists(idx_review) AND attribute_not_exists(human_label_name)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":done": {"S": "done"}},
    )


def _keys_backfill(*, name: str, keys_of: Callable[[dict[str, Any]], dict[str, dict[str, Any]]], **scan: Any) -> int:
    """Scan for the items `scan` selects and SET the index keys `keys_of(item)` gives each. Returns how many."""
    updated = 0
    for response in wire.paginate("scan", TableName=name, **scan):
        for raw in response.get("Items", []):
            item = wire.from_wire(raw)
            keys = keys_of(item)
            if keys:
                wire.call(
                    "update_item",
                    TableName=name,
                    Key={"id": {"S": item["id"]}},
                    UpdateExpression="SET " + ", ".join(f"{key} = :{key}" for key in keys),
                    ExpressionAttributeValues={f":{key}": value for key, value in keys.items()},
                )
                updated += 1
    return updated
