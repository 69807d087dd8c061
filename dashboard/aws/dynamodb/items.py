"""The results table in DynamoDB: the only module that talks to it.

One item per submission, one schema for every item (see `ITEM_FIELDS`). Items are plain dicts of
Python values here; nothing outside this module sees a boto3 response shape.

Indexes:
- `by_created` (partition `created_month`, sort `created_at`): newest-first pages without a Scan.
  A month bucket keeps a page to one Query in the common case while spreading a busy year over
  twelve partitions; within a month DynamoDB's adaptive capacity splits a hot partition.
- `by_status` (partition `status`, sort `created_at`): what is queued or running, oldest first.
- `by_label`, `by_model` (partitions `idx_label`, `idx_model`, sort `created_at`): sparse indexes of
  finished items, for the explorer's filters. The key attributes are separate from `label_name` and
  `model` because those carry NULL until known, and a NULL may not be an index key.
- `by_batch` (partition `batch_id`, sort `created_at`, projecting only `status`): a batch's progress.
Why these partition keys, and where they stop scaling: docs/architecture.md, "Explorer indexes".
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import botocore.session
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import JSONParser, ResponseParserFactory
from django.conf import settings
from django.core import signing

from dashboard.exceptions import (
    ItemConflict,
    ItemNotFound,
    ItemsExist,
    StoreThrottled,
    StoreUnavailable,
    TransactionCancelled,
)

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
INDEX_BY_LABEL = "by_label"
INDEX_BY_MODEL = "by_model"
INDEX_BY_BATCH = "by_batch"
# Attributes that exist only to key an index; callers never see them.
INTERNAL_ATTRIBUTES = frozenset({"created_month", "idx_label", "idx_model"})
# How far back a newest-first page walks through empty months before it calls the table exhausted.
MONTHS_LOOKBACK = 36

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_client_lock = threading.Lock()
_client_cache: dict[tuple, Any] = {}


def client():
    """The process's DynamoDB client, made on first use (never at import: gunicorn and RQ fork).

    One client serves every thread (boto3 clients are thread-safe); making one costs ~50 ms of CPU,
    which a thread pool per micro-batch must not pay again and again.
    """
    key = (os.getpid(), settings.DYNAMODB_ENDPOINT_URL, settings.AWS_REGION)
    cached = _client_cache.get(key)
    if cached is not None:
        return cached
    with _client_lock:
        if key not in _client_cache:
            _client_cache.clear()
            _client_cache[key] = _client_make()
        return _client_cache[key]


def _client_make():
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
    botocore_session = botocore.session.get_session()
    botocore_session.register_component("response_parser_factory", _FastReadParserFactory())
    return boto3.session.Session(botocore_session=botocore_session).client("dynamodb", **kwargs)


# Read responses whose wire JSON already has the parsed shape for every type we store (S, N, NULL,
# BOOL, M, L): botocore's per-attribute walk over them is most of the CPU of a big page or an export.
_RAW_OUTPUTS = frozenset({"QueryOutput", "ScanOutput", "GetItemOutput", "BatchGetItemOutput"})


class _FastReadParser(JSONParser):
    def _do_parse(self, response: dict, shape: Any) -> dict:
        if shape is not None and shape.name in _RAW_OUTPUTS:
            parsed = self._parse_body_as_json(response["body"])
            self._inject_response_metadata(parsed, response["headers"])
            return parsed
        return super()._do_parse(response, shape)


class _FastReadParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _FastReadParser(**self._defaults)
        return super().create_parser(protocol_name)


def table_name() -> str:
    return settings.DYNAMODB_TABLE


def now_iso() -> str:
    """Now as every timestamp is stored: UTC, microseconds, `Z`. Fixed width, so strings sort as times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_parse(value: object) -> datetime | None:
    """A stored timestamp as an aware UTC datetime, or None if it is not one.

    Also reads the forms other writers use (no microseconds, an offset instead of `Z`): a timestamp
    in another format is the same moment, never "long ago" nor an error.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _call(operation: str, **kwargs: Any) -> dict:
    try:
        return getattr(client(), operation)(**kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            raise ItemConflict(error.response["Error"].get("Message", code)) from error
        reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
        if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
            raise ItemConflict(f"A transaction's condition failed: {reasons}", reasons=reasons) from error
        if code == "TransactionCanceledException":
            raise TransactionCancelled(f"DynamoDB cancelled the transaction: {reasons}", reasons=reasons) from error
        if code == "ResourceNotFoundException":
            raise StoreUnavailable(f"The results table {table_name()!r} does not exist.") from error
        message = error.response.get("Error", {}).get("Message", str(error))
        raise StoreUnavailable(f"DynamoDB {operation} failed: {code}: {message}") from error
    except BotoCoreError as error:
        raise StoreUnavailable(f"DynamoDB is unreachable: {error}") from error


# --- retrying what a batched call left unprocessed (throttling) -------------------------------
# Module-level so that tests can replace them and check the waits without waiting.
_sleep = time.sleep
_clock = time.monotonic
_jitter = random.uniform
RETRY_BASE_SECONDS = 0.05
RETRY_CAP_SECONDS = 2.0


class _Backoff:
    """Capped exponential backoff with full jitter (a uniform wait up to the ceiling, so throttled callers
    spread out), within DYNAMODB_UNPROCESSED_RETRY_SECONDS for one whole call, counted from its first
    retry. Then StoreThrottled: a request never waits on a throttled table forever.
    """

    def __init__(self) -> None:
        self.budget = settings.DYNAMODB_UNPROCESSED_RETRY_SECONDS
        self.deadline: float | None = None
        self.attempt = 0

    def restart(self) -> None:
        """A new chunk: its first retry waits briefly again (the total budget keeps counting)."""
        self.attempt = 0

    def wait(self, *, left: int, what: str) -> None:
        """Wait before the next try, or raise StoreThrottled once the budget is spent."""
        now = _clock()
        if self.deadline is None:
            self.deadline = now + self.budget
        remaining = self.deadline - now
        if remaining <= 0:
            raise StoreThrottled(
                f"DynamoDB kept throttling: {left} {what} were still unprocessed after {self.budget:g} s of "
                "retries. Try again later.",
                left=left,
            )
        ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**self.attempt)
        self.attempt += 1
        _sleep(min(_jitter(0.0, ceiling), remaining))


def _encode(value: Any) -> dict:
    if isinstance(value, float):
        value = Decimal(repr(value))
    return _serializer.serialize(value)


def _to_wire(item: dict[str, Any]) -> dict[str, dict]:
    return {key: _encode(value) for key, value in item.items()}


def _value(key: str, value: dict) -> Any:
    # The common wire types directly: TypeDeserializer is the slowest step of a large page or export.
    if "S" in value:
        return value["S"]
    if "NULL" in value:
        return None
    if "N" in value:
        return int(value["N"]) if key == "label" else float(value["N"])
    decoded = _deserializer.deserialize(value)
    return float(decoded) if isinstance(decoded, Decimal) else decoded


def _from_wire(raw: dict[str, dict]) -> dict[str, Any]:
    item = {key: _value(key, value) for key, value in raw.items() if key not in INTERNAL_ATTRIBUTES}
    return {key: item.get(key) for key in ITEM_FIELDS} | {
        key: value for key, value in item.items() if key not in ITEM_FIELDS
    }


# --- the table ------------------------------------------------------------------------------


def table_ensure(*, name: str | None = None, wait_seconds: float = 60.0) -> bool:
    """Create the results table with its indexes unless it exists. Returns True when created.

    An existing table gains any index it lacks (one UpdateTable per index, as DynamoDB requires),
    so a table made by an older version keeps its data and gets the explorer's filters.
    """
    name = name or table_name()
    try:
        description = client().describe_table(TableName=name)["Table"]
        _indexes_ensure(name=name, description=description, wait_seconds=wait_seconds)
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
                *(definition for spec in EXPLORER_INDEXES for definition in _index_attribute_definitions(spec)),
            ],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                index(INDEX_BY_CREATED, "created_month"),
                index(INDEX_BY_STATUS, "status"),
                *(_index_definition(spec) for spec in EXPLORER_INDEXES),
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
    put_new(table=table_name(), item=item)


def put_new(*, table: str, item: dict[str, Any]) -> None:
    """Put an item with its month bucket, on condition that its id is new (a clash never overwrites)."""
    wire = _to_wire(item) | {"created_month": {"S": item["created_at"][:7]}}
    _call("put_item", TableName=table, Item=wire, ConditionExpression="attribute_not_exists(id)")


def item_get(*, item_id: str) -> dict[str, Any]:
    response = _call("get_item", TableName=table_name(), Key={"id": {"S": item_id}}, ConsistentRead=True)
    if "Item" not in response:
        raise ItemNotFound(f"No result with id {item_id!r}")
    return _from_wire(response["Item"])


def item_claim(*, item_id: str, claimed_by: str, job_id: str | None = None) -> dict[str, Any] | None:
    """Move one item from queued to running. Returns it, or None when someone else has it.

    With `job_id` (the RQ job's id, recorded as `claim_job`), a retry of the same job may take back
    an item it still holds as `running`: the retried job is the same unit of work, so its items are
    not stranded until the reconciler's lease runs out (issue 7). Nobody else can take a running item.
    """
    spec = _claim_spec(item_id=item_id, claimed_by=claimed_by, job_id=job_id, now=now_iso())
    try:
        response = _call("update_item", **spec, ReturnValues="ALL_NEW")
    except ItemConflict:
        return None
    return _from_wire(response["Attributes"])


def _claim_spec(*, item_id: str, claimed_by: str, job_id: str | None, now: str) -> dict[str, Any]:
    """The conditional update that claims one item, as UpdateItem and TransactWriteItems take it."""
    condition = "attribute_exists(id) AND #s = :queued"
    values = {
        ":running": {"S": "running"},
        ":queued": {"S": "queued"},
        ":now": {"S": now},
        ":by": {"S": claimed_by},
    }
    update = "SET #s = :running, started_at = :now, claimed_by = :by"
    if job_id:
        condition = "attribute_exists(id) AND (#s = :queued OR (#s = :running AND claim_job = :job))"
        values[":job"] = {"S": job_id}
        update += ", claim_job = :job"
    return {
        "TableName": table_name(),
        "Key": {"id": {"S": item_id}},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values,
    }


# --- recovery: the reconciler's conditional resets (issue 7, dashboard/reconcile.py) ---------


def item_release(*, item_id: str, claimed_by: str) -> bool:
    """Put a running item whose holder is gone back to queued, counting the recovery.

    Conditional on the item still being running under the same claim, so it never undoes a result
    written meanwhile nor takes an item from a holder that claimed it since. False if it changed.
    """
    try:
        _call(
            "update_item",
            TableName=table_name(),
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #s = :queued REMOVE started_at, claimed_by, claim_job ADD recoveries :one",
            ConditionExpression="#s = :running AND claimed_by = :by",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":queued": {"S": "queued"},
                ":running": {"S": "running"},
                ":by": {"S": claimed_by},
                ":one": {"N": "1"},
            },
        )
    except ItemConflict:
        return False
    return True


def item_fail_abandoned(*, item_id: str, claimed_by: str, error: str) -> bool:
    """Record `failed` with a reason on a running item whose holder is gone and that ran out of tries."""
    try:
        item_finish(item_id=item_id, status="failed", claimed_by=claimed_by, error=error)
    except ItemConflict:
        return False
    return True


def _finish_spec(
    *,
    item_id: str,
    status: str,
    claimed_by: str,
    label: int | None = None,
    label_name: str | None = None,
    confidence: float | None = None,
    model: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The conditional update that records an outcome: for UpdateItem and TransactWriteItems alike.

    `result_writes` counts outcome writes; it stays 1 for every item because the condition lets
    only the holder of a running item write, once.
    """
    if status not in {"done", "failed"}:
        raise ValueError(f"finish status must be done or failed, got {status!r}")
    index_keys = index_attributes(status=status, label_name=label_name, model=model)
    return {
        "TableName": table_name(),
        "Key": {"id": {"S": item_id}},
        "UpdateExpression": (
            "SET #s = :status, label = :label, label_name = :label_name, confidence = :confidence,"
            " model = :model, finished_at = :now, #e = :error"
            + "".join(f", {key} = :{key}" for key in index_keys)
            + " ADD result_writes :one"
        ),
        "ConditionExpression": "#s = :running AND claimed_by = :by",
        "ExpressionAttributeNames": {"#s": "status", "#e": "error"},
        "ExpressionAttributeValues": {
            **{f":{key}": {"S": value} for key, value in index_keys.items()},
            ":status": _encode(status),
            ":label": _encode(label),
            ":label_name": _encode(label_name),
            ":confidence": _encode(confidence),
            ":model": _encode(model),
            ":now": _encode(now_iso()),
            ":error": _encode(error),
            ":running": {"S": "running"},
            ":by": {"S": claimed_by},
            ":one": {"N": "1"},
        },
    }


def item_finish(**outcome: Any) -> None:
    """Record an outcome on an item this worker holds. Raises ItemConflict if it no longer does.

    Keyword arguments as `_finish_spec`: item_id, status, claimed_by, label, label_name, confidence,
    model, error.
    """
    _call("update_item", **_finish_spec(**outcome))


# --- pages ----------------------------------------------------------------------------------


# Page cursors travel through the browser, so they are signed with SECRET_KEY: a cursor the server did not
# make is refused before any of it reaches a Query. One salt per kind, so one kind is never read as the other.
CURSOR_SALT_NEWEST = "dashboard.results.newest-page"
CURSOR_SALT_EXPLORER = "dashboard.results.explorer-page"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def encode_cursor(state: dict[str, Any], *, salt: str) -> str:
    """A signed, URL-safe cursor for `state` (JSON values)."""
    return signing.dumps(state, salt=salt, compress=True)


def decode_cursor(cursor: str, *, salt: str) -> dict[str, Any]:
    """The state of a cursor this server signed with `salt`. ValueError for anything else."""
    try:
        state = signing.loads(cursor, salt=salt)
    except (signing.BadSignature, ValueError, UnicodeError, zlib.error):
        raise ValueError("Malformed page cursor") from None
    if not isinstance(state, dict):
        raise ValueError("Malformed page cursor")
    return state


def _is_month(value: object) -> bool:
    return isinstance(value, str) and _MONTH.fullmatch(value) is not None


def _is_key(value: object) -> bool:
    """A position inside a partition as cursors carry it: [id, created_at]."""
    return isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) and part for part in value)


def _previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def items_page_newest(*, limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of items, newest first, and the cursor of the next page (None at the end)."""
    if cursor:
        month, key, walked = _newest_cursor_decode(cursor)
    else:
        month, key, walked = now_iso()[:7], None, 0
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
        if key is not None:
            kwargs["ExclusiveStartKey"] = _start_key("created_month", month, key)
        response = _call("query", **kwargs)
        found = [_from_wire(raw) for raw in response.get("Items", [])]
        items.extend(found)
        if found:
            walked = 0  # `walked` counts consecutive empty months, the sign that the table is exhausted
        key = _key_list(response.get("LastEvaluatedKey"))
        if key is None:
            month, walked = _previous_month(month), walked + 1
            if walked > MONTHS_LOOKBACK:
                return items, None
    return items, encode_cursor({"m": month, "k": key, "w": walked}, salt=CURSOR_SALT_NEWEST)


def _newest_cursor_decode(cursor: str) -> tuple[str, list[str] | None, int]:
    state = decode_cursor(cursor, salt=CURSOR_SALT_NEWEST)
    month, key, walked = state.get("m"), state.get("k"), state.get("w", 0)
    if not _is_month(month) or not (key is None or _is_key(key)):
        raise ValueError("Malformed page cursor")
    if not isinstance(walked, int) or isinstance(walked, bool) or not 0 <= walked <= MONTHS_LOOKBACK:
        raise ValueError("Malformed page cursor")
    return month, key, walked


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
    """Items by id, in chunks of 100 (BatchGetItem's limit); missing ids are left out.

    Raises StoreThrottled if DynamoDB keeps leaving keys unprocessed (see `_Backoff`).
    """
    found: dict[str, dict[str, Any]] = {}
    for raw in _batch_get(list(dict.fromkeys(item_ids))):
        item = _from_wire(raw)
        found[item["id"]] = item
    return found


def _batch_get(ids: list[str], *, consistent: bool = False) -> list[dict]:
    """The raw items for these (distinct) ids, 100 keys a call, retrying unprocessed keys with backoff."""
    raws: list[dict] = []
    backoff = _Backoff()
    for start in range(0, len(ids), 100):
        keys: dict[str, Any] = {"Keys": [{"id": {"S": i}} for i in ids[start : start + 100]]}
        if consistent:
            keys["ConsistentRead"] = True
        request: dict[str, Any] = {table_name(): keys}
        backoff.restart()
        while True:
            response = _call("batch_get_item", RequestItems=request)
            raws.extend(response.get("Responses", {}).get(table_name(), []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            pending = len(request.get(table_name(), {}).get("Keys", []))
            backoff.wait(left=pending + max(0, len(ids) - start - 100), what="keys")
    return raws


# --- explorer: indexes, filtered cursor pages, bulk writes and deletes ------------------------
# Owned by the results explorer and bulk submission. Every function that writes a finished result
# must also write `index_attributes(...)`, or the item will not appear under the label/model filters.


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition: str
    projection: tuple[str, ...] | None = None  # None projects ALL attributes


EXPLORER_INDEXES = (
    IndexSpec(INDEX_BY_LABEL, "idx_label"),
    IndexSpec(INDEX_BY_MODEL, "idx_model"),
    IndexSpec(INDEX_BY_BATCH, "batch_id", projection=("status",)),
)
# One request reads at most this many index entries when a filter discards some (text contains,
# or a second filter on top of the index's key); the page then offers to continue from there.
DEFAULT_SCAN_BUDGET = 5000
_PAGE_READ = 1000  # items per Query call when filtering or exporting (DynamoDB caps a response at 1 MB)


def _index_attribute_definitions(spec: IndexSpec) -> list[dict]:
    return [{"AttributeName": spec.partition, "AttributeType": "S"}]


def _index_definition(spec: IndexSpec) -> dict:
    projection: dict[str, Any] = {"ProjectionType": "ALL"}
    if spec.projection:
        projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(spec.projection)}
    return {
        "IndexName": spec.name,
        "KeySchema": [
            {"AttributeName": spec.partition, "KeyType": "HASH"},
            {"AttributeName": "created_at", "KeyType": "RANGE"},
        ],
        "Projection": projection,
    }


def _indexes_ensure(*, name: str, description: dict, wait_seconds: float) -> list[str]:
    """Add the explorer's indexes an existing table lacks; back-fill their keys. Returns what was added."""
    present = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
    added: list[str] = []
    for spec in EXPLORER_INDEXES:
        if spec.name in present:
            continue
        try:
            client().update_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": "created_at", "AttributeType": "S"},
                    *_index_attribute_definitions(spec),
                ],
                GlobalSecondaryIndexUpdates=[{"Create": _index_definition(spec)}],
            )
        except ClientError as error:
            raise StoreUnavailable(f"DynamoDB UpdateTable (add index {spec.name}) failed: {error}") from error
        _index_wait(name=name, index_name=spec.name, wait_seconds=wait_seconds)
        added.append(spec.name)
    if INDEX_BY_LABEL in added or INDEX_BY_MODEL in added:
        _index_keys_backfill(name=name)
    return added


def _index_wait(*, name: str, index_name: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        table = client().describe_table(TableName=name)["Table"]
        states = {index["IndexName"]: index.get("IndexStatus") for index in table.get("GlobalSecondaryIndexes", [])}
        if table["TableStatus"] == "ACTIVE" and states.get(index_name) == "ACTIVE":
            return
        time.sleep(0.5)
    raise StoreUnavailable(f"Index {index_name!r} on {name!r} did not become ACTIVE within {wait_seconds:.0f} s")


def _index_keys_backfill(*, name: str) -> int:
    """Give items finished before the label/model indexes existed their index keys. Returns how many."""
    updated = 0
    kwargs: dict[str, Any] = {
        "TableName": name,
        "FilterExpression": "attribute_not_exists(idx_label) AND attribute_not_exists(idx_model)",
    }
    while True:
        response = _call("scan", **kwargs)
        for raw in response.get("Items", []):
            item = _from_wire(raw)
            keys = index_attributes(status=item["status"], label_name=item["label_name"], model=item["model"])
            if keys:
                _call(
                    "update_item",
                    TableName=name,
                    Key={"id": {"S": item["id"]}},
                    UpdateExpression="SET " + ", ".join(f"{key} = :{key}" for key in keys),
                    ExpressionAttributeValues={f":{key}": {"S": value} for key, value in keys.items()},
                )
                updated += 1
        if not response.get("LastEvaluatedKey"):
            return updated
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def index_attributes(*, status: str, label_name: str | None, model: str | None) -> dict[str, str]:
    """The index-key attributes a finished item carries (absent ones keep it out of that index)."""
    keys: dict[str, str] = {}
    if status == "done" and label_name:
        keys["idx_label"] = str(label_name)
    if status in {"done", "failed"} and model:
        keys["idx_model"] = str(model)
    return keys


@dataclass(frozen=True)
class ItemFilter:
    """What the explorer shows. Bounds are inclusive ISO-8601 UTC strings like `created_at`."""

    status: str | None = None
    label: str | None = None
    model: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    text: str | None = None

    def signature(self) -> str:
        """A short fingerprint, so a cursor made under one filter is refused under another."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]

    @property
    def discards(self) -> bool:
        """True when DynamoDB reads entries the filter then drops (items returned < items scanned)."""
        return _plan(self).filter_expression is not None


@dataclass(frozen=True)
class _Plan:
    index: str
    partition_attr: str
    partition: str | None  # None: the month-bucketed `by_created` index
    filter_expression: str | None
    names: dict[str, str]
    values: dict[str, dict]
    top_month: str
    bottom_month: str | None
    created_from: str | None
    created_to: str | None


def _plan(item_filter: ItemFilter) -> _Plan:
    """Choose the index whose key does the most filtering; what the key cannot do becomes a filter."""
    conditions: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, dict] = {}
    if item_filter.label:
        index, attr, partition = INDEX_BY_LABEL, "idx_label", item_filter.label
    elif item_filter.model:
        index, attr, partition = INDEX_BY_MODEL, "idx_model", item_filter.model
    elif item_filter.status:
        index, attr, partition = INDEX_BY_STATUS, "status", item_filter.status
    else:
        index, attr, partition = INDEX_BY_CREATED, "created_month", None
    if item_filter.status and attr != "status":
        conditions.append("#status = :status")
        names["#status"], values[":status"] = "status", {"S": item_filter.status}
    if item_filter.model and attr not in {"idx_model"}:
        conditions.append("#model = :model")
        names["#model"], values[":model"] = "model", {"S": item_filter.model}
    if item_filter.text:
        conditions.append("contains(#text, :text)")
        names["#text"], values[":text"] = "text", {"S": item_filter.text}
    # Nothing is created after now, so a "to" bound in the future starts from this month: starting from
    # its own month would walk empty months and give up (MONTHS_LOOKBACK) before reaching any item.
    now_month = now_iso()[:7]
    top = min(item_filter.created_to[:7], now_month) if item_filter.created_to else now_month
    return _Plan(
        index=index,
        partition_attr=attr,
        partition=partition,
        filter_expression=" AND ".join(conditions) or None,
        names=names,
        values=values,
        top_month=top,
        bottom_month=item_filter.created_from[:7] if item_filter.created_from else None,
        created_from=item_filter.created_from,
        created_to=item_filter.created_to,
    )


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + 1}-01" if number == 12 else f"{year}-{number + 1:02d}"


@dataclass
class Page:
    """One page of the explorer, newest first, with cursors both ways."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None
    scanned: int
    index: str
    budget_exhausted: bool = False


@dataclass
class _Walk:
    raws: list[dict] = field(default_factory=list)
    scanned: int = 0
    position: tuple[str, list[str] | None] | None = None  # None: nothing further in this direction
    budget_exhausted: bool = False


def _walk(plan: _Plan, *, start: tuple[str, list[str] | None], older: bool, limit: int, budget: int | None) -> _Walk:
    """Collect up to `limit` matching entries from `start` (exclusive), towards older or newer items.

    A position is (partition, [id, created_at]) or (partition, None). For the month-bucketed index,
    (month, None) means "just above the newest entry of that month", in either direction.
    """
    walk = _Walk()
    partition, key = start
    if key is None and not older:
        if plan.partition is not None or partition >= plan.top_month:
            return walk
        partition = _next_month(partition)
    empty_months = month_scanned = 0
    while True:
        if budget is not None and walk.scanned >= budget:
            if key is None and not older:
                walk.position = (_previous_month(partition), None)
            else:
                walk.position = (partition, key)
            walk.budget_exhausted = True
            return walk
        wanted = limit - len(walk.raws)
        if plan.filter_expression:
            request_limit = _PAGE_READ if budget is None else max(1, min(_PAGE_READ, budget - walk.scanned))
        else:
            request_limit = min(wanted + 1, _PAGE_READ + 1)  # one extra tells whether more follow
        response = _query_index(plan, partition=partition, key=key, older=older, limit=request_limit)
        walk.scanned += response.get("ScannedCount", 0)
        month_scanned += response.get("ScannedCount", 0)
        found = response.get("Items", [])
        last_key = _key_list(response.get("LastEvaluatedKey"))
        if len(found) >= wanted:
            walk.raws.extend(found[:wanted])
            if len(found) > wanted or last_key is not None:
                walk.position = _position_of(plan, found[wanted - 1])
                return walk
        else:
            walk.raws.extend(found)
            if last_key is not None:
                key = last_key
                continue
        # This partition is exhausted.
        if plan.partition is not None:
            return walk
        empty_months = 0 if month_scanned else empty_months + 1
        month_scanned = 0
        if older:
            if (plan.bottom_month and partition <= plan.bottom_month) or empty_months > MONTHS_LOOKBACK:
                return walk
            partition, key = _previous_month(partition), None
            if len(walk.raws) >= limit:
                walk.position = (partition, None)
                return walk
        else:
            if partition >= plan.top_month:
                return walk
            if len(walk.raws) >= limit:
                walk.position = (partition, None)
                return walk
            partition, key = _next_month(partition), None


def _key_list(last_key: dict | None) -> list[str] | None:
    if not last_key:
        return None
    return [last_key["id"]["S"], last_key["created_at"]["S"]]


def _query_index(plan: _Plan, *, partition: str, key: list[str] | None, older: bool, limit: int) -> dict:
    names = {"#pk": plan.partition_attr, **plan.names}
    values = {":pk": {"S": partition}, **plan.values}
    condition = "#pk = :pk"
    bounds = (plan.created_from, plan.created_to)
    if bounds[0] and bounds[1]:
        condition += " AND created_at BETWEEN :from AND :to"
    elif bounds[0]:
        condition += " AND created_at >= :from"
    elif bounds[1]:
        condition += " AND created_at <= :to"
    if bounds[0]:
        values[":from"] = {"S": bounds[0]}
    if bounds[1]:
        values[":to"] = {"S": bounds[1]}
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": plan.index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not older,
        "Limit": limit,
    }
    if plan.filter_expression:
        kwargs["FilterExpression"] = plan.filter_expression
    if key is not None:
        kwargs["ExclusiveStartKey"] = _start_key(plan.partition_attr, partition, key)
    return _call("query", **kwargs)


def _start_key(partition_attr: str, partition: str, key: list[str]) -> dict[str, dict]:
    """The ExclusiveStartKey of a position (every index keys on its partition and `created_at` over the
    table's `id`): built here from plain strings, never taken whole from a cursor."""
    return {"id": {"S": key[0]}, "created_at": {"S": key[1]}, partition_attr: {"S": partition}}


def _cursor_encode(plan_filter: ItemFilter, position: tuple[str, list[str] | None], direction: str) -> str:
    partition, key = position
    state = {"f": plan_filter.signature(), "m": partition, "k": key, "d": direction}
    return encode_cursor(state, salt=CURSOR_SALT_EXPLORER)


def _cursor_decode(cursor: str, item_filter: ItemFilter) -> tuple[tuple[str, list[str] | None], str]:
    state = decode_cursor(cursor, salt=CURSOR_SALT_EXPLORER)
    partition, key, direction = state.get("m"), state.get("k"), state.get("d")
    if state.get("f") != item_filter.signature() or direction not in ("n", "p"):
        raise ValueError("This page link belongs to another filter")
    if key is not None and not _is_key(key):
        raise ValueError("Malformed page cursor")
    plan_partition = _plan(item_filter).partition
    if (plan_partition is None and not _is_month(partition)) or (
        plan_partition is not None and partition != plan_partition
    ):
        raise ValueError("Malformed page cursor")
    return (partition, key), direction


def items_page(
    *, item_filter: ItemFilter, limit: int, cursor: str | None = None, scan_budget: int | None = None
) -> Page:
    """A page of items matching the filter, newest first. Raises ValueError for a foreign cursor."""
    plan = _plan(item_filter)
    return _page(plan, item_filter, limit=limit, cursor=cursor, budget=scan_budget or DEFAULT_SCAN_BUDGET)


def _top(plan: _Plan) -> tuple[str, None]:
    return (plan.partition if plan.partition is not None else plan.top_month, None)


def _walk_page(plan: _Plan, *, start: tuple[str, list[str] | None], older: bool, limit: int, budget: int) -> _Walk:
    """A page's walk. It reads one entry more than it shows, so a cursor is given only when that
    direction really holds more: a page that ends at a month's end never links to empty months."""
    walk = _walk(plan, start=start, older=older, limit=limit + 1, budget=budget)
    if len(walk.raws) > limit:
        walk.raws = walk.raws[:limit]
        walk.position = _position_of(plan, walk.raws[-1])
    elif not walk.budget_exhausted:
        walk.position = None
    return walk


def _page(plan: _Plan, item_filter: ItemFilter, *, limit: int, cursor: str | None, budget: int) -> Page:
    if cursor:
        start, direction = _cursor_decode(cursor, item_filter)
    else:
        start, direction = _top(plan), "n"
    if direction == "p":
        walk = _walk_page(plan, start=start, older=False, limit=limit, budget=budget)
        if walk.position is None and not walk.budget_exhausted:
            return _page(plan, item_filter, limit=limit, cursor=None, budget=budget)  # back at the top
        raws = list(reversed(walk.raws))
        items = [_from_wire(raw) for raw in raws]
        prev_cursor = _cursor_encode(item_filter, walk.position, "p") if walk.position else None
        after = _position_of(plan, raws[-1]) if raws else start
        return Page(
            items=items,
            next_cursor=_cursor_encode(item_filter, after, "n"),
            prev_cursor=prev_cursor,
            scanned=walk.scanned,
            index=plan.index,
            budget_exhausted=walk.budget_exhausted,
        )
    walk = _walk_page(plan, start=start, older=True, limit=limit, budget=budget)
    prev_cursor = None
    if cursor:
        before = _position_of(plan, walk.raws[0]) if walk.raws else start
        prev_cursor = _cursor_encode(item_filter, before, "p")
    return Page(
        items=[_from_wire(raw) for raw in walk.raws],
        next_cursor=_cursor_encode(item_filter, walk.position, "n") if walk.position else None,
        prev_cursor=prev_cursor,
        scanned=walk.scanned,
        index=plan.index,
        budget_exhausted=walk.budget_exhausted,
    )


def _partition_of(plan: _Plan, raw: dict) -> str:
    return plan.partition if plan.partition is not None else raw["created_month"]["S"]


def _position_of(plan: _Plan, raw: dict) -> tuple[str, list[str]]:
    return (_partition_of(plan, raw), [raw["id"]["S"], raw["created_at"]["S"]])


def items_iter(*, item_filter: ItemFilter) -> Iterator[dict[str, Any]]:
    """Every item matching the filter, newest first, one Query page in memory at a time."""
    plan = _plan(item_filter)

    def pages() -> Iterator[list[dict]]:
        position: tuple[str, list[str] | None] | None = _top(plan)
        while position is not None:
            walk = _walk(plan, start=position, older=True, limit=_PAGE_READ, budget=None)
            yield walk.raws
            position = walk.position

    # Read the next page while this one is written out: DynamoDB's time overlaps ours, and memory
    # stays at two pages.
    source = pages()
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        upcoming = prefetch.submit(next, source, None)
        while (raws := upcoming.result()) is not None:
            upcoming = prefetch.submit(next, source, None)
            for raw in raws:
                yield _from_wire(raw)


def _batch_write(requests: list[dict]) -> None:
    """BatchWriteItem in chunks of 25, retrying UnprocessedItems with backoff (see `_Backoff`).

    Raises StoreThrottled, with how many requests were left, when the retry time runs out.
    """
    backoff = _Backoff()
    for start in range(0, len(requests), 25):
        pending = requests[start : start + 25]
        backoff.restart()
        while True:
            response = _call("batch_write_item", RequestItems={table_name(): pending})
            pending = response.get("UnprocessedItems", {}).get(table_name(), [])
            if not pending:
                break
            backoff.wait(left=len(pending) + max(0, len(requests) - start - 25), what="items")


def _item_wire(item: dict[str, Any]) -> dict[str, dict]:
    return _to_wire(item) | {"created_month": {"S": item["created_at"][:7]}}


def items_put_many(*, items: list[dict[str, Any]]) -> None:
    """Write new items in batches. BatchWriteItem has no conditions: use this only for ids just made
    (uuid4); ids a user chose go through `items_put_new_many`.

    Raises StoreUnavailable (after deleting what was written) if some items could not be stored, so a
    failed batch leaves nothing half-stored.
    """
    try:
        _batch_write([{"PutRequest": {"Item": _item_wire(item)}} for item in items])
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
    for start in range(0, len(ordered), TRANSACT_LIMIT):
        chunk = ordered[start : start + TRANSACT_LIMIT]
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


NEW_ID = "attribute_not_exists(id)"
_RETRYABLE_CANCELLATIONS = {"None", "TransactionConflict", "ThrottlingError"}


def _transact_put_new(chunk: list[dict[str, Any]]) -> None:
    actions = [
        {"Put": {"TableName": table_name(), "Item": _item_wire(item), "ConditionExpression": NEW_ID}} for item in chunk
    ]
    backoff = _Backoff()
    while True:
        try:
            _call("transact_write_items", TransactItems=actions)
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
            "TableName": table_name(),
            "Key": {"id": {"S": item_id}},
            "ConditionExpression": "batch_id = :b",
            "ExpressionAttributeValues": {":b": {"S": batch_id}},
        }

    def delete(item_id: str) -> bool:
        try:
            _call("delete_item", **spec(item_id))
        except (ItemConflict, StoreUnavailable):
            return False
        return True

    deleted = 0
    for start in range(0, len(ids), TRANSACT_LIMIT):
        chunk = ids[start : start + TRANSACT_LIMIT]
        try:
            _call("transact_write_items", TransactItems=[{"Delete": spec(item_id)} for item_id in chunk])
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


def item_requeue(*, item_id: str) -> bool:
    """Reset a finished (done or failed) item to queued as a fresh item: its result, its claim and its
    recovery count are cleared, so the reconciler gives it a full set of tries. False if it was not finished.
    """
    try:
        _call(
            "update_item",
            TableName=table_name(),
            Key={"id": {"S": item_id}},
            UpdateExpression=(
                "SET #s = :queued, label = :null, label_name = :null, confidence = :null, model = :null,"
                " finished_at = :null, #e = :null"
                " REMOVE idx_label, idx_model, started_at, claimed_by, claim_job, recoveries, result_writes"
            ),
            ConditionExpression="attribute_exists(id) AND #s IN (:done, :failed)",
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues={
                ":queued": {"S": "queued"},
                ":done": {"S": "done"},
                ":failed": {"S": "failed"},
                ":null": {"NULL": True},
            },
        )
    except ItemConflict:
        return False
    return True


def batch_status_counts(*, batch_id: str) -> dict[str, int]:
    """How many of a batch's items are in each status, read from the narrow `by_batch` index."""
    counts = dict.fromkeys(STATUSES, 0)
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": INDEX_BY_BATCH,
        "KeyConditionExpression": "batch_id = :b",
        "ProjectionExpression": "#s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":b": {"S": batch_id}},
    }
    while True:
        response = _call("query", **kwargs)
        for raw in response.get("Items", []):
            status = raw.get("status", {}).get("S", "")
            counts[status] = counts.get(status, 0) + 1
        if not response.get("LastEvaluatedKey"):
            return counts
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def batch_items_iter(*, batch_id: str) -> Iterator[dict[str, Any]]:
    """A batch's items in submission order: ids from `by_batch`, then the items 100 at a time."""
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": INDEX_BY_BATCH,
        "KeyConditionExpression": "batch_id = :b",
        "ExpressionAttributeValues": {":b": {"S": batch_id}},
        "ProjectionExpression": "id",
        "Limit": _PAGE_READ,
    }
    while True:
        response = _call("query", **kwargs)
        ids = [raw["id"]["S"] for raw in response.get("Items", [])]
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            found = items_get_many(item_ids=chunk)
            yield from (found[item_id] for item_id in chunk if item_id in found)
        if not response.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def items_created_since(*, created_from: str, until: str | None = None) -> Iterator[dict[str, Any]]:
    """Items created at or after `created_from` (timestamps only), for the dashboard's charts.

    The months read run from `created_from`'s to `until`'s (default: now), so a caller that says
    what "now" is gets the months of that moment, not of the real clock.
    """
    month = (until or now_iso())[:7]
    while month >= created_from[:7]:
        kwargs: dict[str, Any] = {
            "TableName": table_name(),
            "IndexName": INDEX_BY_CREATED,
            "KeyConditionExpression": "created_month = :m AND created_at >= :from",
            "ProjectionExpression": "created_at, started_at, finished_at, #s, label_name",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":m": {"S": month}, ":from": {"S": created_from}},
        }
        while True:
            response = _call("query", **kwargs)
            for raw in response.get("Items", []):
                yield {key: _value(key, value) for key, value in raw.items()}
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        month = _previous_month(month)


def label_count_since(*, label: str, created_from: str) -> int:
    """How many items got this label among those created since `created_from` (a COUNT Query)."""
    total = 0
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": INDEX_BY_LABEL,
        "KeyConditionExpression": "idx_label = :l AND created_at >= :from",
        "ExpressionAttributeValues": {":l": {"S": label}, ":from": {"S": created_from}},
        "Select": "COUNT",
    }
    while True:
        response = _call("query", **kwargs)
        total += response.get("Count", 0)
        if not response.get("LastEvaluatedKey"):
            return total
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# --- inference: claims and outcomes for a micro-batch ----------------------------------------
# DynamoDB has no batched conditional update, so claims run as concurrent conditional UpdateItems,
# and outcomes are written with TransactWriteItems (up to 100 conditional updates per call).

TRANSACT_LIMIT = 100


def _claimable(item_ids: list[str], *, job_id: str | None) -> list[dict[str, Any]]:
    """The items worth a claim attempt, read whole by one BatchGetItem per 100 ids, in the order given.

    Jobs absorbed by an earlier micro-batch would otherwise send dozens of doomed claims. The read is
    strongly consistent; an item that changes after it is still safe: a claim on an item no longer
    queued fails its condition, and one skipped because it looked taken and was then released is
    re-enqueued by the reconciler.
    """
    found: dict[str, dict[str, Any]] = {}
    # Strongly consistent: an eventually consistent read can miss items written a moment ago, and a
    # job would skip its own fresh items until the reconciler's lease ran out.
    for raw in _batch_get(item_ids, consistent=True):
        item = _from_wire(raw)
        if item["status"] == "queued" or (job_id and item.get("claim_job") == job_id):
            found[item["id"]] = item
    return [found[item_id] for item_id in item_ids if item_id in found]


def items_claim_many(
    *, item_ids: Iterable[str], claimed_by: str, job_id: str | None = None, concurrency: int = 16
) -> list[dict[str, Any]]:
    """Claim every queued item among `item_ids`, in the order given. Items held elsewhere are left out.

    With `job_id`, items this same RQ job claimed before (a retry) are taken back too: see `item_claim`.

    The items are read once, then claimed in transactions of up to 100 conditional updates: one
    request instead of one per item, which cost the worker 2.5-7x less CPU per item and DynamoDB
    Local somewhat less (docs/benchmarks.md, "Load"), for twice the write units per claim on AWS. A transaction is
    all or nothing, so when one is cancelled (another worker took one of its items, or wrote one
    meanwhile) its items are claimed one by one instead and the rest still land. The items returned
    are as read, with the claim's fields set.
    """
    from concurrent.futures import ThreadPoolExecutor

    def claim(item_id: str) -> dict[str, Any] | None:
        return item_claim(item_id=item_id, claimed_by=claimed_by, job_id=job_id)

    ids = list(dict.fromkeys(item_ids))
    if len(ids) <= 1:
        return [item for item in map(claim, ids) if item is not None]
    items = _claimable(ids, job_id=job_id)
    claimed = []
    for start in range(0, len(items), TRANSACT_LIMIT):
        chunk = items[start : start + TRANSACT_LIMIT]
        now = now_iso()
        specs = [_claim_spec(item_id=i["id"], claimed_by=claimed_by, job_id=job_id, now=now) for i in chunk]
        try:
            _call("transact_write_items", TransactItems=[{"Update": spec} for spec in specs])
        except (ItemConflict, TransactionCancelled):
            with ThreadPoolExecutor(max_workers=min(concurrency, len(chunk))) as pool:
                claimed.extend(item for item in pool.map(claim, [i["id"] for i in chunk]) if item is not None)
            continue
        fields = {"status": "running", "started_at": now, "claimed_by": claimed_by}
        claimed.extend(item | fields | ({"claim_job": job_id} if job_id else {}) for item in chunk)
    return claimed


def items_finish_many(*, outcomes: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Write outcomes (each as `item_finish` takes them) in transactions of up to 100.

    Returns (written, lost): a transaction cancelled because one item was taken from this worker
    (its condition failed) is retried item by item, so the others still land; `lost` names the
    items this worker no longer held.
    """
    written, lost = 0, []
    for start in range(0, len(outcomes), TRANSACT_LIMIT):
        chunk = outcomes[start : start + TRANSACT_LIMIT]
        try:
            _call("transact_write_items", TransactItems=[{"Update": _finish_spec(**o)} for o in chunk])
            written += len(chunk)
            continue
        except ItemConflict:
            pass
        for outcome in chunk:
            try:
                item_finish(**outcome)
                written += 1
            except ItemConflict:
                lost.append(outcome["item_id"])
    return written, lost
