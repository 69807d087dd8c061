"""One item's lifecycle: new, put, get, claim, release, finish, requeue, cancel.

One item per submission, one schema for every item (see `wire.ITEM_FIELDS`). Every change of status
is a conditional update, so two writers never both win: only the holder of a running item records
its outcome, and the reconciler's resets never undo a result written meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.schema import REVIEW_ATTRIBUTES, index_attributes, review_attributes
from dashboard.exceptions import ItemConflict, ItemNotFound

NEW_ID = "attribute_not_exists(id)"


def new_item(*, item_id: str, text: str, created_at: str | None = None) -> dict[str, Any]:
    created_at = created_at or wire.now_iso()
    return {
        "id": item_id,
        "text": text,
        "status": "queued",
        "label": None,
        "label_name": None,
        "confidence": None,
        "probabilities": None,
        "model": None,
        "created_at": created_at,
        "finished_at": None,
        "error": None,
    }


def item_put_new(*, item: dict[str, Any]) -> None:
    """Write a new queued item; an existing id is a conflict, never an overwrite."""
    put_new(table=wire.table_name(), item=item)


def put_new(*, table: str, item: dict[str, Any]) -> None:
    """Put an item with its month bucket, on condition that its id is new (a clash never overwrites)."""
    wire.call("put_item", TableName=table, Item=wire.item_wire(item), ConditionExpression=NEW_ID)


def item_get(*, item_id: str) -> dict[str, Any]:
    response = wire.call("get_item", TableName=wire.table_name(), Key={"id": {"S": item_id}}, ConsistentRead=True)
    if "Item" not in response:
        raise ItemNotFound(f"No result with id {item_id!r}")
    return wire.from_wire(response["Item"])


def item_claim(*, item_id: str, claimed_by: str, job_id: str | None = None) -> dict[str, Any] | None:
    """Move one item from queued to running. Returns it, or None when someone else has it.

    With `job_id` (the RQ job's id, recorded as `claim_job`), a retry of the same job may take back
    an item it still holds as `running`: the retried job is the same unit of work, so its items are
    not stranded until the reconciler's lease runs out. Nobody else can take a running item.
    """
    spec = claim_spec(item_id=item_id, claimed_by=claimed_by, job_id=job_id, now=wire.now_iso())
    try:
        response = wire.call("update_item", **spec, ReturnValues="ALL_NEW")
    except ItemConflict:
        return None
    return wire.from_wire(response["Attributes"])


def claim_spec(*, item_id: str, claimed_by: str, job_id: str | None, now: str) -> dict[str, Any]:
    """The conditional update that claims one item, as UpdateItem and TransactWriteItems take it."""
    condition, values = _claimable_when(job_id)
    update = "SET #s = :running, started_at = :now, claimed_by = :by" + (", claim_job = :job" if job_id else "")
    return {
        "TableName": wire.table_name(),
        "Key": {"id": {"S": item_id}},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values
        | {":running": {"S": "running"}, ":now": {"S": now}, ":by": {"S": claimed_by}},
    }


def _claimable_when(job_id: str | None) -> tuple[str, dict[str, Any]]:
    """A claim's condition and its values: queued, or with `job_id`, running under that same RQ job."""
    values = {":queued": {"S": "queued"}}
    if not job_id:
        return "attribute_exists(id) AND #s = :queued", values
    condition = "attribute_exists(id) AND (#s = :queued OR (#s = :running AND claim_job = :job))"
    return condition, values | {":running": {"S": "running"}, ":job": {"S": job_id}}


# --- recovery: the reconciler's conditional resets (dashboard/reconcile.py) -------------------


def item_release(*, item_id: str, claimed_by: str) -> bool:
    """Put a running item whose holder is gone back to queued, counting the recovery.

    Conditional on the item still being running under the same claim, so it never undoes a result
    written meanwhile nor takes an item from a holder that claimed it since. False if it changed.
    """
    try:
        wire.call(
            "update_item",
            TableName=wire.table_name(),
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


def finish_spec(
    *,
    item_id: str,
    status: str,
    claimed_by: str,
    label: int | None = None,
    label_name: str | None = None,
    confidence: float | None = None,
    probabilities: dict[str, float] | None = None,
    model: str | None = None,
    error: str | None = None,
    timings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The conditional update that records an outcome: for UpdateItem and TransactWriteItems alike.

    `probabilities` maps every class's name to its probability (a done item's; null when failed).
    `timings` holds the worker's timestamps (`wire.ITEM_TIMING_FIELDS`; others are refused), written
    in the same update, so they cost no extra request.

    `result_writes` counts outcome writes; it stays 1 for every item because the condition lets
    only the holder of a running item write, once.
    """
    update, values = _outcome_fields(
        status=status,
        label=label,
        label_name=label_name,
        confidence=confidence,
        probabilities=probabilities,
        model=model,
        error=error,
        timings=timings,
    )
    return _outcome_spec(
        item_id,
        update=update,
        condition="#s = :running AND claimed_by = :by",
        values=values | {":running": {"S": "running"}, ":by": {"S": claimed_by}},
    )


def finish_queued_spec(
    *, item_id: str, claimed_by: str, text: str, job_id: str | None, started_at: str, **fields: Any
) -> dict[str, Any]:
    """The conditional update that claims a queued item and records its outcome at once.

    For a worker that ran the model on the text its job brought before touching the item: the item
    must still be claimable (`claim_spec`'s condition) and hold that same text. `started_at` is when
    the worker started on it. `fields` are `finish_spec`'s outcome arguments (status, label, ...).
    """
    update, values = _outcome_fields(**fields)
    condition, claim_values = _claimable_when(job_id)
    claim = ", started_at = :started, claimed_by = :by" + (", claim_job = :job" if job_id else "")
    return _outcome_spec(
        item_id,
        update=update + claim,
        condition=f"{condition} AND #t = :text",
        values=values | claim_values | {":text": {"S": text}, ":started": {"S": started_at}, ":by": {"S": claimed_by}},
        names={"#t": "text"},
    )


def _outcome_fields(
    *,
    status: str,
    label: int | None = None,
    label_name: str | None = None,
    confidence: float | None = None,
    probabilities: dict[str, float] | None = None,
    model: str | None = None,
    error: str | None = None,
    timings: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """An outcome's SET clause and its values (the condition is the caller's)."""
    if status not in {"done", "failed"}:
        raise ValueError(f"finish status must be done or failed, got {status!r}")
    index_keys = index_attributes(status=status, label_name=label_name, model=model)
    review_keys = review_attributes(status=status, model=model, confidence=confidence)
    timings = dict(timings or {})
    unknown = set(timings) - set(wire.ITEM_TIMING_FIELDS)
    if unknown:
        raise ValueError(f"unknown timing field(s): {sorted(unknown)}")
    update = (
        "SET #s = :status, label = :label, label_name = :label_name, confidence = :confidence,"
        " probabilities = :probabilities, model = :model, finished_at = :now, #e = :error"
        + "".join(f", {key} = :{key}" for key in [*index_keys, *review_keys, *timings])
    )
    return update, {
        **{f":{key}": {"S": value} for key, value in (index_keys | timings).items()},
        **{f":{key}": value for key, value in review_keys.items()},
        ":status": wire.encode(status),
        ":label": wire.encode(label),
        ":label_name": wire.encode(label_name),
        ":confidence": wire.encode(confidence),
        ":probabilities": wire.encode(probabilities),
        ":model": wire.encode(model),
        ":now": wire.encode(wire.now_iso()),
        ":error": wire.encode(error),
    }


def _outcome_spec(
    item_id: str, *, update: str, condition: str, values: dict[str, Any], names: dict[str, str] | None = None
) -> dict[str, Any]:
    """An outcome's conditional update, counting the write in `result_writes`."""
    return {
        "TableName": wire.table_name(),
        "Key": {"id": {"S": item_id}},
        "UpdateExpression": f"{update} ADD result_writes :one",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#s": "status", "#e": "error", **(names or {})},
        "ExpressionAttributeValues": values | {":one": {"N": "1"}},
    }


def item_finish_queued(*, text: str, job_id: str | None, started_at: str, **outcome: Any) -> dict[str, Any]:
    """Claim a queued item and record its outcome in one conditional UpdateItem; return it as stored.

    One DynamoDB request instead of a claim and then a result write, for a lone item whose job
    brought its text, so the model ran before the item was touched (docs/benchmarks.md,
    "Submit-to-result latency"). Raises ItemConflict when the item is no longer queued with `text`:
    taken, cancelled, changed, or gone. Arguments as `finish_queued_spec`.
    """
    spec = finish_queued_spec(text=text, job_id=job_id, started_at=started_at, **outcome)
    response = wire.call("update_item", **spec, ReturnValues="ALL_NEW")
    return wire.from_wire(response["Attributes"])


def item_finish(**outcome: Any) -> dict[str, Any]:
    """Record an outcome on an item this worker holds, and return the item as stored. Raises
    ItemConflict if it no longer does.

    Keyword arguments as `finish_spec`: item_id, status, claimed_by, label, label_name, confidence,
    probabilities, model, error, timings. The stored item comes back in the same response
    (ReturnValues), so announcing it costs no read.
    """
    response = wire.call("update_item", **finish_spec(**outcome), ReturnValues="ALL_NEW")
    return wire.from_wire(response["Attributes"])


def item_requeue(*, item_id: str) -> bool:
    """Reset a finished (done or failed) item to queued as a fresh item: its result, its claim and its
    recovery count are cleared, so the reconciler gives it a full set of tries. False if it was not finished.
    """
    try:
        wire.call(
            "update_item",
            TableName=wire.table_name(),
            Key={"id": {"S": item_id}},
            UpdateExpression=(
                "SET #s = :queued, label = :null, label_name = :null, confidence = :null,"
                " probabilities = :null, model = :null, finished_at = :null, #e = :null"
                " REMOVE idx_label, idx_model, started_at, claimed_by, claim_job, recoveries, result_writes, "
                + ", ".join([*REVIEW_ATTRIBUTES, *wire.ITEM_TIMING_FIELDS])
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


CANCELLABLE = ("queued", "running")


def item_cancel(*, item_id: str, cancelled_by: str, reason: str = "") -> dict[str, Any]:
    """Move a queued or running item to `cancelled`, with who, when and why. Returns the item as it now is.

    `error` carries the reason in words, so every reader of the one schema (API, CSV, pages) sees why
    the item has no result; `cancelled_by` and `cancel_reason` keep the parts. A running item may be
    cancelled too: its worker's finish is conditional on `running`, so that worker then drops its
    result (`classifier.jobs`). Raises ItemConflict when the item is finished (or cancelled) already,
    ItemNotFound when there is no such item.
    """
    now = wire.now_iso()
    shown = f"Cancelled by {cancelled_by}" + (f": {reason}" if reason else ".")
    try:
        response = wire.call(
            "update_item",
            TableName=wire.table_name(),
            Key={"id": {"S": item_id}},
            UpdateExpression=(
                "SET #s = :cancelled, finished_at = :now, #e = :error, cancelled_by = :by, cancel_reason = :reason"
            ),
            ConditionExpression="attribute_exists(id) AND #s IN (:queued, :running)",
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues={
                ":cancelled": {"S": "cancelled"},
                ":queued": {"S": "queued"},
                ":running": {"S": "running"},
                ":now": {"S": now},
                ":error": {"S": shown},
                ":by": {"S": cancelled_by},
                ":reason": {"S": reason},
            },
            ReturnValues="ALL_NEW",
        )
    except ItemConflict:
        current = item_get(item_id=item_id)  # ItemNotFound when it never existed or was deleted
        raise ItemConflict(
            f"Item {item_id!r} is {current['status']}; only queued or running items can be cancelled."
        ) from None
    return wire.from_wire(response["Attributes"])


def items_cancel_many(
    *, item_ids: list[str], cancelled_by: str, reason: str = "", concurrency: int = 16
) -> tuple[list[str], list[str]]:
    """Cancel each of these items that is queued or running, one conditional update each (in parallel).

    Returns (cancelled, left): `left` are the ids that were finished already, or missing. No
    transaction: one finished item must not keep the others from being cancelled.
    """

    def cancel(item_id: str) -> bool:
        try:
            item_cancel(item_id=item_id, cancelled_by=cancelled_by, reason=reason)
        except (ItemConflict, ItemNotFound):
            return False
        return True

    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return [], []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(ids))) as pool:
        outcomes = list(pool.map(cancel, ids))
    cancelled = [item_id for item_id, ok in zip(ids, outcomes, strict=True) if ok]
    left = [item_id for item_id, ok in zip(ids, outcomes, strict=True) if not ok]
    return cancelled, left
