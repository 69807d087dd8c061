"""The results table in DynamoDB: the only module that talks to it.

One item per submission, one schema for every item (see `ITEM_FIELDS`). Items are plain dicts of
Python values here; nothing outside this module sees a boto3 response shape.

Indexes:
- `by_created` (partition `created_month`, sort `created_at`): newest-first pages without a Scan.
  A month bucket keeps a page to one Query in the common case while spreading a busy year over
  twelve partitions; within a month DynamoDB's adaptive capacity splits a hot partition.
- `by_status` (partition `status`, sort `created_at`): what is queued or running, oldest first.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from dashboard.exceptions import ItemConflict, ItemNotFound, StoreUnavailable

STATUSES = ("queued", "running", "done", "failed")
ITEM_FIELDS = (
    "id",
    "text",
    "status",
    "label",
    "label_name",
    "confidence",
    "model",
    "created_at",
    "finished_at",
    "error",
)
INDEX_BY_CREATED = "by_created"
INDEX_BY_STATUS = "by_status"
# How far back a newest-first page walks through empty months before it calls the table exhausted.
MONTHS_LOOKBACK = 36

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_local = threading.local()


def client():
    """A DynamoDB client for this process and thread, made on first use (never at import: we fork)."""
    cached = getattr(_local, "client", None)
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    kwargs: dict[str, Any] = {
        "region_name": settings.AWS_REGION,
        "config": Config(
            connect_timeout=3,
            read_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
        ),
    }
    if settings.DYNAMODB_ENDPOINT_URL:
        kwargs["endpoint_url"] = settings.DYNAMODB_ENDPOINT_URL
        # DynamoDB Local accepts any key; only supply one when the environment has none.
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs["aws_access_key_id"] = "local"
            kwargs["aws_secret_access_key"] = "local"
    made = boto3.session.Session().client("dynamodb", **kwargs)
    _local.client = (os.getpid(), made)
    return made


def table_name() -> str:
    return settings.DYNAMODB_TABLE


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _call(operation: str, **kwargs: Any) -> dict:
    try:
        return getattr(client(), operation)(**kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            raise ItemConflict(error.response["Error"].get("Message", code)) from error
        if code == "ResourceNotFoundException":
            raise StoreUnavailable(f"The results table {table_name()!r} does not exist.") from error
        message = error.response.get("Error", {}).get("Message", str(error))
        raise StoreUnavailable(f"DynamoDB {operation} failed: {code}: {message}") from error
    except BotoCoreError as error:
        raise StoreUnavailable(f"DynamoDB is unreachable: {error}") from error


def _encode(value: Any) -> dict:
    if isinstance(value, float):
        value = Decimal(repr(value))
    return _serializer.serialize(value)


def _to_wire(item: dict[str, Any]) -> dict[str, dict]:
    return {key: _encode(value) for key, value in item.items()}


def _from_wire(raw: dict[str, dict]) -> dict[str, Any]:
    item = {key: _deserializer.deserialize(value) for key, value in raw.items()}
    for key, value in item.items():
        if isinstance(value, Decimal):
            item[key] = int(value) if key == "label" else float(value)
    return {key: item.get(key) for key in ITEM_FIELDS} | {
        key: value for key, value in item.items() if key not in ITEM_FIELDS and key != "created_month"
    }


# --- the table ------------------------------------------------------------------------------


def table_ensure(*, name: str | None = None, wait_seconds: float = 60.0) -> bool:
    """Create the results table with its indexes unless it exists. Returns True when created."""
    name = name or table_name()
    try:
        client().describe_table(TableName=name)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise StoreUnavailable(f"DynamoDB DescribeTable failed: {error}") from error
    except BotoCoreError as error:
        raise StoreUnavailable(f"DynamoDB is unreachable: {error}") from error

    def index(index_name: str, partition: str) -> dict:
        return {
            "IndexName": index_name,
            "KeySchema": [
                {"AttributeName": partition, "KeyType": "HASH"},
                {"AttributeName": "created_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    try:
        client().create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "created_month", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                index(INDEX_BY_CREATED, "created_month"),
                index(INDEX_BY_STATUS, "status"),
            ],
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceInUseException":
            return False  # another process created it between our describe and create
        raise StoreUnavailable(f"DynamoDB CreateTable failed: {error}") from error
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        status = client().describe_table(TableName=name)["Table"]["TableStatus"]
        if status == "ACTIVE":
            return True
        time.sleep(0.5)
    raise StoreUnavailable(f"Table {name!r} did not become ACTIVE within {wait_seconds:.0f} s")


def table_delete(*, name: str) -> None:
    try:
        client().delete_table(TableName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise StoreUnavailable(f"DynamoDB DeleteTable failed: {error}") from error


def store_ping() -> None:
    """Raise StoreUnavailable unless the table answers."""
    _call("describe_table", TableName=table_name())


# --- items ----------------------------------------------------------------------------------


def new_item(*, item_id: str, text: str, created_at: str | None = None) -> dict[str, Any]:
    created_at = created_at or now_iso()
    return {
        "id": item_id,
        "text": text,
        "status": "queued",
        "label": None,
        "label_name": None,
        "confidence": None,
        "model": None,
        "created_at": created_at,
        "finished_at": None,
        "error": None,
    }


def item_put_new(*, item: dict[str, Any]) -> None:
    """Write a new queued item; an existing id is a conflict, never an overwrite."""
    wire = _to_wire(item) | {"created_month": {"S": item["created_at"][:7]}}
    _call(
        "put_item",
        TableName=table_name(),
        Item=wire,
        ConditionExpression="attribute_not_exists(id)",
    )


def item_get(*, item_id: str) -> dict[str, Any]:
    response = _call("get_item", TableName=table_name(), Key={"id": {"S": item_id}}, ConsistentRead=True)
    if "Item" not in response:
        raise ItemNotFound(f"No result with id {item_id!r}")
    return _from_wire(response["Item"])


def item_claim(*, item_id: str, claimed_by: str) -> dict[str, Any] | None:
    """Move one item from queued to running. Returns it, or None when someone else has it."""
    try:
        response = _call(
            "update_item",
            TableName=table_name(),
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #s = :running, started_at = :now, claimed_by = :by",
            ConditionExpression="attribute_exists(id) AND #s = :queued",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":running": {"S": "running"},
                ":queued": {"S": "queued"},
                ":now": {"S": now_iso()},
                ":by": {"S": claimed_by},
            },
            ReturnValues="ALL_NEW",
        )
    except ItemConflict:
        return None
    return _from_wire(response["Attributes"])


def item_finish(
    *,
    item_id: str,
    status: str,
    claimed_by: str,
    label: int | None = None,
    label_name: str | None = None,
    confidence: float | None = None,
    model: str | None = None,
    error: str | None = None,
) -> None:
    """Record an outcome on an item this worker holds. Raises ItemConflict if it no longer does."""
    if status not in {"done", "failed"}:
        raise ValueError(f"finish status must be done or failed, got {status!r}")
    _call(
        "update_item",
        TableName=table_name(),
        Key={"id": {"S": item_id}},
        UpdateExpression=(
            "SET #s = :status, label = :label, label_name = :label_name, confidence = :confidence,"
            " model = :model, finished_at = :now, #e = :error"
        ),
        ConditionExpression="#s = :running AND claimed_by = :by",
        ExpressionAttributeNames={"#s": "status", "#e": "error"},
        ExpressionAttributeValues={
            ":status": _encode(status),
            ":label": _encode(label),
            ":label_name": _encode(label_name),
            ":confidence": _encode(confidence),
            ":model": _encode(model),
            ":now": _encode(now_iso()),
            ":error": _encode(error),
            ":running": {"S": "running"},
            ":by": {"S": claimed_by},
        },
    )


# --- pages ----------------------------------------------------------------------------------


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("Malformed page cursor") from None
    if not isinstance(state, dict) or not isinstance(state.get("m"), str):
        raise ValueError("Malformed page cursor")
    return state


def _previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def items_page_newest(*, limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of items, newest first, and the cursor of the next page (None at the end)."""
    if cursor:
        state = decode_cursor(cursor)
        month, start_key, walked = state["m"], state.get("k"), int(state.get("w", 0))
    else:
        month, start_key, walked = now_iso()[:7], None, 0
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        kwargs: dict[str, Any] = {
            "TableName": table_name(),
            "IndexName": INDEX_BY_CREATED,
            "KeyConditionExpression": "created_month = :m",
            "ExpressionAttributeValues": {":m": {"S": month}},
            "ScanIndexForward": False,
            "Limit": limit - len(items),
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = _call("query", **kwargs)
        found = [_from_wire(raw) for raw in response.get("Items", [])]
        items.extend(found)
        if found:
            walked = 0  # `walked` counts consecutive empty months, the sign that the table is exhausted
        start_key = response.get("LastEvaluatedKey")
        if start_key is None:
            month, walked = _previous_month(month), walked + 1
            if walked > MONTHS_LOOKBACK:
                return items, None
    return items, encode_cursor({"m": month, "k": start_key, "w": walked})


def items_with_status(*, status: str, limit: int = 1000) -> Iterator[dict[str, Any]]:
    """Items in one status, oldest first, through the status index."""
    start_key = None
    yielded = 0
    while yielded < limit:
        kwargs: dict[str, Any] = {
            "TableName": table_name(),
            "IndexName": INDEX_BY_STATUS,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status}},
            "Limit": min(100, limit - yielded),
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = _call("query", **kwargs)
        for raw in response.get("Items", []):
            yielded += 1
            yield _from_wire(raw)
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            return


def items_get_many(*, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Items by id, in chunks of 100 (BatchGetItem's limit); missing ids are left out."""
    ids = list(dict.fromkeys(item_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 100):
        request = {table_name(): {"Keys": [{"id": {"S": i}} for i in ids[start : start + 100]]}}
        while request:
            response = _call("batch_get_item", RequestItems=request)
            for raw in response.get("Responses", {}).get(table_name(), []):
                item = _from_wire(raw)
                found[item["id"]] = item
            request = response.get("UnprocessedKeys") or None
    return found
