"""The generations table in DynamoDB: one item per call to the text-generation endpoint.

A second table rather than a `kind` attribute in the results table: a generation has a different
schema (prompt, parameters, generated text, endpoint, duration), and mixing the two would give the
results table rows that lack a label and the results pages a filter on every read. It reuses the
results adapter's client and error translation (`wire.client`, `wire.call`) and its table creation
(`schema.table_describe`, `schema.table_create`).

Every item carries every field in `GENERATION_FIELDS` (NULL until known). Only `done` items hold
generated text; a call that failed is stored as `failed` with the reason, so a failure is visible in
the history and never mistaken for a result.

Index `by_created` (partition `created_month`, sort `created_at`): newest-first history, as in the
results table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from botocore.exceptions import ClientError
from django.conf import settings

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.items import put_new
from dashboard.aws.dynamodb.schema import table_create, table_describe
from dashboard.exceptions import ItemNotFound, StoreUnavailable

GENERATION_STATUSES = ("done", "failed")
GENERATION_FIELDS = (
    "id",
    "prompt",
    "max_new_tokens",
    "temperature",
    "endpoint",
    "status",
    "generated_text",
    "error",
    "duration_ms",
    "requested_by",
    "created_at",
    "finished_at",
)
INDEX_BY_CREATED = "by_created"
_INTEGERS = {"max_new_tokens", "duration_ms"}


def generations_table_name() -> str:
    return settings.DYNAMODB_GENERATIONS_TABLE


def _call(operation: str, **kwargs: Any) -> dict[str, Any]:
    try:
        return wire.call(operation, **kwargs)
    except StoreUnavailable as error:
        cause = error.__cause__
        if (
            isinstance(cause, ClientError)
            and cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
        ):
            # wire.call names the results table; say which table is really missing.
            raise StoreUnavailable(
                f"The generations table {generations_table_name()!r} does not exist; "
                "run `manage.py create_results_table`."
            ) from cause
        raise


def _from_wire(raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    item = {key: wire.deserializer.deserialize(cast(Any, value)) for key, value in raw.items()}
    for key, value in item.items():
        if isinstance(value, Decimal):
            item[key] = int(value) if key in _INTEGERS else float(value)
    return {key: item.get(key) for key in GENERATION_FIELDS}


def generations_table_ensure(*, name: str | None = None, wait_seconds: float = 60.0) -> bool:
    """Create the generations table with its index unless it exists. Returns True when created."""
    name = name or generations_table_name()
    if table_describe(name=name) is not None:
        return False
    return table_create(
        name=name,
        attributes={"id": "S", "created_month": "S", "created_at": "S"},
        indexes=[
            {
                "IndexName": INDEX_BY_CREATED,
                "KeySchema": [
                    {"AttributeName": "created_month", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        wait_seconds=wait_seconds,
    )


def generation_put(*, item: dict[str, Any]) -> None:
    """Write a finished generation (done or failed); an existing id is a conflict, never an overwrite."""
    if item.get("status") not in GENERATION_STATUSES:
        raise ValueError(f"generation status must be done or failed, got {item.get('status')!r}")
    full = {key: item.get(key) for key in GENERATION_FIELDS}
    put_new(table=generations_table_name(), item=full)


def generation_get(*, generation_id: str) -> dict[str, Any]:
    response = _call(
        "get_item", TableName=generations_table_name(), Key={"id": {"S": generation_id}}, ConsistentRead=True
    )
    if "Item" not in response:
        raise ItemNotFound(f"No generation with id {generation_id!r}")
    return _from_wire(response["Item"])


def generations_newest(*, limit: int) -> list[dict[str, Any]]:
    """The latest generations, newest first, from this month and the previous one.

    The page shows a short history, so two months (one Query each at most) is enough; older
    generations stay in the table for export.
    """
    month = wire.now_iso()[:7]
    items: list[dict[str, Any]] = []
    for _ in range(2):
        response = _call(
            "query",
            TableName=generations_table_name(),
            IndexName=INDEX_BY_CREATED,
            KeyConditionExpression="created_month = :m",
            ExpressionAttributeValues={":m": {"S": month}},
            ScanIndexForward=False,
            Limit=limit - len(items),
        )
        items.extend(_from_wire(raw) for raw in response.get("Items", []))
        if len(items) >= limit:
            break
        month = wire.previous_month(month)
    return items
