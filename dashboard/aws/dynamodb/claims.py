"""Claims and outcomes for an inference micro-batch.

DynamoDB has no batched conditional update, so claims and outcomes are written with
TransactWriteItems (up to 100 conditional updates per call), falling back to one conditional
UpdateItem per item when a transaction is cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.items import claim_spec, finish_spec, item_claim, item_finish
from dashboard.aws.dynamodb.reads import batch_get
from dashboard.exceptions import ItemConflict, TransactionCancelled


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
    for raw in batch_get(item_ids, consistent=True):
        item = wire.from_wire(raw)
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

    def claim(item_id: str) -> dict[str, Any] | None:
        return item_claim(item_id=item_id, claimed_by=claimed_by, job_id=job_id)

    ids = list(dict.fromkeys(item_ids))
    if len(ids) <= 1:
        return [item for item in map(claim, ids) if item is not None]
    items = _claimable(ids, job_id=job_id)
    claimed: list[dict[str, Any]] = []
    for start in range(0, len(items), wire.TRANSACT_LIMIT):
        chunk = items[start : start + wire.TRANSACT_LIMIT]
        now = wire.now_iso()
        specs = [claim_spec(item_id=i["id"], claimed_by=claimed_by, job_id=job_id, now=now) for i in chunk]
        try:
            wire.call("transact_write_items", TransactItems=[{"Update": spec} for spec in specs])
        except (ItemConflict, TransactionCancelled):
            with ThreadPoolExecutor(max_workers=min(concurrency, len(chunk))) as pool:
                claimed.extend(item for item in pool.map(claim, [i["id"] for i in chunk]) if item is not None)
            continue
        fields = {"status": "running", "started_at": now, "claimed_by": claimed_by}
        claimed.extend(item | fields | ({"claim_job": job_id} if job_id else {}) for item in chunk)
    return claimed


class Finished(NamedTuple):
    """What `items_finish_many` wrote: how many, the items this worker no longer held, and the
    stored items it knows without a read (those written one by one; a transaction returns none)."""

    written: int
    lost: list[str]
    stored: dict[str, dict[str, Any]]


def items_finish_many(*, outcomes: list[dict[str, Any]]) -> Finished:
    """Write outcomes (each as `item_finish` takes them) in transactions of up to 100.

    A lone outcome is one conditional UpdateItem: a transaction of one costs DynamoDB twice the write
    units, and DynamoDB Local twice the time (docs/benchmarks.md, "Submit-to-result latency"). A
    transaction cancelled because one item was taken from this worker (its condition failed) is
    retried item by item, so the others still land; `lost` names the items this worker no longer held.
    """
    written, lost, stored = 0, [], {}
    for start in range(0, len(outcomes), wire.TRANSACT_LIMIT):
        chunk = outcomes[start : start + wire.TRANSACT_LIMIT]
        if len(chunk) > 1:
            try:
                wire.call("transact_write_items", TransactItems=[{"Update": finish_spec(**o)} for o in chunk])
                written += len(chunk)
                continue
            except ItemConflict:
                pass
        for outcome in chunk:
            try:
                stored[outcome["item_id"]] = item_finish(**outcome)
                written += 1
            except ItemConflict:
                lost.append(outcome["item_id"])
    return Finished(written, lost, stored)
