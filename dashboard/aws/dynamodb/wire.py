"""The DynamoDB wire: the process's client, its fast read parser, error translation and the item codec.

Items are plain dicts of Python values outside this package; nothing outside it sees a boto3
response shape. Every other module of the package calls DynamoDB through `call` (or `paginate`), so
one place turns a `ClientError` into our own exceptions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import boto3
import botocore.session
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import JSONParser, ResponseParserFactory
from django.conf import settings

from classifier.contracts import timestamp_now
from dashboard.exceptions import ItemConflict, StoreUnavailable, TransactionCancelled

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ITEM_FIELDS = (
    "id",
    "text",
    "status",
    "label",
    "label_name",
    "confidence",
    "probabilities",
    "model",
    "created_at",
    "finished_at",
    "error",
    # A person's verdict on a done item: the true label (its id and name), who gave it and when.
    "human_label",
    "human_label_name",
    "labelled_by",
    "labelled_at",
)
# When the worker that classified an item took its job, had claimed it and had run the model (UTC
# timestamps, written with the outcome; beside `started_at`, the claim's own time, and `finished_at`,
# the moment of the result write). Absent on items finished otherwise (the reconciler, a cancel),
# and not part of ITEM_FIELDS: they describe the worker's run, not the result (bench/latency.py).
ITEM_TIMING_FIELDS = ("dequeued_at", "inference_started_at", "inference_finished_at")
# Attributes that exist only to key an index; callers never see them.
INTERNAL_ATTRIBUTES = frozenset({"created_month", "idx_label", "idx_model", "idx_review", "idx_confidence"})
# DynamoDB's own limits per request.
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
TRANSACT_LIMIT = 100

serializer = TypeSerializer()
deserializer = TypeDeserializer()
_client_lock = threading.Lock()
_client_cache: dict[tuple[Any, ...], Any] = {}


def client() -> Any:
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


def _client_make() -> Any:
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
    botocore_session.register_component("response_parser_factory", FastReadParserFactory())
    session: Any = boto3.session.Session(botocore_session=botocore_session)
    return session.client("dynamodb", **kwargs)


# Read responses whose wire JSON already has the parsed shape for every type we store (S, N, NULL,
# BOOL, M, L): botocore's per-attribute walk over them is most of the CPU of a big page or an export.
# It overrides botocore's private `_do_parse`, so botocore's minor version is pinned, and
# tests/dashboard/aws/test_fast_parser.py checks it against the stock parser on recorded responses.
_RAW_OUTPUTS = frozenset({"QueryOutput", "ScanOutput", "GetItemOutput", "BatchGetItemOutput"})


class FastReadParser(JSONParser):
    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        # The stubs do not declare botocore's private parser methods; they exist at the pinned version.
        this: Any = self
        if shape is not None and shape.name in _RAW_OUTPUTS:
            parsed: dict[str, Any] = this._parse_body_as_json(response["body"])
            this._inject_response_metadata(parsed, response["headers"])
            return parsed
        result: dict[str, Any] = super()._do_parse(response, shape)  # type: ignore[misc]  # stubs omit it
        return result


class FastReadParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return FastReadParser(**self._defaults)  # type: ignore[attr-defined]  # stubs omit it
        return super().create_parser(protocol_name)


def table_name() -> str:
    return settings.DYNAMODB_TABLE


def now_iso() -> str:
    """Now as every timestamp is stored: UTC, microseconds, `Z`. Fixed width, so strings sort as times."""
    return timestamp_now()


def previous_month(month: str) -> str:
    """The month bucket (`YYYY-MM`, as `created_month`) before `month`."""
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def next_month(month: str) -> str:
    """The month bucket after `month`."""
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + 1}-01" if number == 12 else f"{year}-{number + 1:02d}"


def error_translate(operation: str, error: Exception) -> Exception:
    """Our exception for a boto3 error raised by `operation` (the caller raises it `from error`)."""
    if isinstance(error, BotoCoreError):
        return StoreUnavailable(f"DynamoDB is unreachable: {error}")
    assert isinstance(error, ClientError)
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return ItemConflict(error.response["Error"].get("Message", code))
    # DynamoDB gives every cancellation reason a Code ("None" for an action that did not fail).
    reasons = cast(list[str], [reason.get("Code") for reason in error.response.get("CancellationReasons", [])])
    if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
        return ItemConflict(f"A transaction's condition failed: {reasons}", reasons=reasons)
    if code == "TransactionCanceledException":
        return TransactionCancelled(f"DynamoDB cancelled the transaction: {reasons}", reasons=reasons)
    if code == "ResourceNotFoundException":
        return StoreUnavailable(f"The results table {table_name()!r} does not exist.")
    message = error.response.get("Error", {}).get("Message", str(error))
    return StoreUnavailable(f"DynamoDB {operation} failed: {code}: {message}")


def call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """One DynamoDB request (`operation` as the client's method name), its errors translated."""
    try:
        response: dict[str, Any] = getattr(client(), operation)(**kwargs)
        return response
    except (ClientError, BotoCoreError) as error:
        raise error_translate(operation, error) from error


def paginate(operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every response page of a Query or Scan that reads to the end, through boto3's paginator.

    For loops that need nothing DynamoDB-specific: a page that stops at a budget, resumes from a
    cursor's position or builds its own ExclusiveStartKey pages by hand with `call` instead.
    """
    try:
        yield from client().get_paginator(operation).paginate(**kwargs)
    except (ClientError, BotoCoreError) as error:
        raise error_translate(operation, error) from error


# DynamoDB's smallest positive number; one nearer zero is refused (ValidationException), and a
# softmax far from its top class underflows below it.
DYNAMODB_MIN_MAGNITUDE = Decimal("1E-130")


def decimal_of(value: Any) -> Any:
    """`value` with every float, also inside maps and lists, as the exact decimal of its repr.

    A float too small for DynamoDB is stored as 0: the difference is below any float's precision at
    the scale of the numbers stored beside it (probabilities, confidences).
    """
    if isinstance(value, float):
        number = Decimal(repr(value))
        return Decimal(0) if abs(number) < DYNAMODB_MIN_MAGNITUDE else number
    if isinstance(value, dict):
        return {key: decimal_of(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [decimal_of(inner) for inner in value]
    return value


def encode(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (floats as exact decimals, in maps and lists too)."""
    return cast(dict[str, Any], serializer.serialize(decimal_of(value)))


def to_wire(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: encode(value) for key, value in item.items()}


# Top-level numbers that are counts or class ids, decoded as ints (a page shows 1, not 1.0).
INTEGER_FIELDS = frozenset({"label", "human_label", "result_writes", "recoveries"})


def value_decode(key: str, value: dict[str, Any]) -> Any:
    """One attribute value as a Python value: INTEGER_FIELDS ints, other numbers floats (in maps and lists too)."""
    # The common wire types directly: TypeDeserializer is the slowest step of a large page or export.
    if "S" in value:
        return value["S"]
    if "NULL" in value:
        return None
    if "N" in value:
        return int(value["N"]) if key in INTEGER_FIELDS else float(value["N"])
    # Nested values are decoded under no key: only top-level INTEGER_FIELDS are ints.
    if "M" in value:
        return {name: value_decode("", inner) for name, inner in value["M"].items()}
    if "L" in value:
        return [value_decode("", inner) for inner in value["L"]]
    decoded = deserializer.deserialize(cast(Any, value))
    return float(decoded) if isinstance(decoded, Decimal) else decoded


def from_wire(raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A stored item as callers see it: every field of ITEM_FIELDS, no index-key attributes."""
    item = {key: value_decode(key, value) for key, value in raw.items() if key not in INTERNAL_ATTRIBUTES}
    return {key: item.get(key) for key in ITEM_FIELDS} | {
        key: value for key, value in item.items() if key not in ITEM_FIELDS
    }


def item_wire(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An item as stored: its fields and its month bucket (the `by_created` index's partition)."""
    return to_wire(item) | {"created_month": {"S": item["created_at"][:7]}}
