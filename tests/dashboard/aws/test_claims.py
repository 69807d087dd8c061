"""Claiming a micro-batch against the real DynamoDB Local: transactions, their fallback, retries."""

from __future__ import annotations

import pytest

from dashboard.aws import dynamodb
from dashboard.aws.dynamodb import claims

pytestmark = pytest.mark.django_db


def _queued(count: int, prefix: str = "item") -> list[str]:
    items = [dynamodb.new_item(item_id=f"{prefix}-{n:04d}", text=f"text number {n}") for n in range(count)]
    dynamodb.items_put_many(items=items)
    return [item["id"] for item in items]


def test_a_batch_larger_than_one_transaction_is_claimed_whole_and_in_order(results_table):
    ids = _queued(dynamodb.TRANSACT_LIMIT + 30)
    order = ids[::-1]

    claimed = dynamodb.items_claim_many(item_ids=order, claimed_by="host:1:job", job_id="job")

    assert [item["id"] for item in claimed] == order
    assert all(item["status"] == "running" and item["claimed_by"] == "host:1:job" for item in claimed)
    assert claimed[0]["text"] == f"text number {len(ids) - 1}"
    stored = {item_id: dynamodb.item_get(item_id=item_id) for item_id in ids}
    assert {item["status"] for item in stored.values()} == {"running"}
    assert {item["claim_job"] for item in stored.values()} == {"job"}
    assert all(stored[item["id"]]["started_at"] == item["started_at"] for item in claimed)


def test_items_held_elsewhere_are_left_out(results_table):
    ids = _queued(5)
    assert dynamodb.item_claim(item_id=ids[1], claimed_by="other:1:x", job_id="x")

    claimed = dynamodb.items_claim_many(item_ids=ids, claimed_by="me:1:y", job_id="y")

    assert [item["id"] for item in claimed] == [ids[0], *ids[2:]]
    assert dynamodb.item_get(item_id=ids[1])["claimed_by"] == "other:1:x"


def test_an_item_taken_between_the_read_and_the_claim_leaves_the_rest_claimed(results_table, monkeypatch):
    ids = _queued(6)
    read = claims._claimable

    def read_then_lose_a_race(item_ids, *, job_id):
        items = read(item_ids, job_id=job_id)
        assert dynamodb.item_claim(item_id=ids[3], claimed_by="faster:1:z", job_id="z")
        return items

    monkeypatch.setattr(claims, "_claimable", read_then_lose_a_race)

    claimed = dynamodb.items_claim_many(item_ids=ids, claimed_by="me:1:y", job_id="y")

    # The transaction is cancelled as a whole; the one-by-one fallback claims all but the lost item.
    assert [item["id"] for item in claimed] == [i for i in ids if i != ids[3]]
    assert dynamodb.item_get(item_id=ids[3])["claimed_by"] == "faster:1:z"
    assert {dynamodb.item_get(item_id=i)["claimed_by"] for i in ids if i != ids[3]} == {"me:1:y"}


def test_a_retried_job_takes_back_its_own_running_items_and_no_one_elses(results_table):
    ids = _queued(4)
    assert len(dynamodb.items_claim_many(item_ids=ids, claimed_by="host:1:job-a", job_id="job-a")) == 4

    assert dynamodb.items_claim_many(item_ids=ids, claimed_by="host:2:job-b", job_id="job-b") == []
    retaken = dynamodb.items_claim_many(item_ids=ids, claimed_by="host:3:job-a", job_id="job-a")

    assert [item["id"] for item in retaken] == ids
    assert {dynamodb.item_get(item_id=i)["claimed_by"] for i in ids} == {"host:3:job-a"}


def test_finished_and_missing_items_are_not_claimed(results_table):
    ids = _queued(3)
    dynamodb.item_claim(item_id=ids[0], claimed_by="w", job_id="j")
    dynamodb.item_finish(
        item_id=ids[0], status="done", claimed_by="w", label=1, label_name="positive", confidence=0.9, model="m"
    )

    claimed = dynamodb.items_claim_many(item_ids=[ids[0], "no-such-item", ids[1], ids[2]], claimed_by="v", job_id="j")

    assert [item["id"] for item in claimed] == ids[1:]
    assert dynamodb.item_get(item_id=ids[0])["status"] == "done"


def test_a_stale_holder_never_overwrites_a_newer_result_or_a_newer_claim(results_table):
    from dashboard.exceptions import ItemConflict

    ids = _queued(3, prefix="stale")
    assert len(dynamodb.items_claim_many(item_ids=ids, claimed_by="old:1:a", job_id="a")) == 3
    # The reconciler decides the old holder is gone and hands two items to a new worker, which
    # finishes one and is still on the other when the old holder comes back with its results.
    for item_id in ids[1:]:
        assert dynamodb.item_release(item_id=item_id, claimed_by="old:1:a")
    assert len(dynamodb.items_claim_many(item_ids=ids[1:], claimed_by="new:2:b", job_id="b")) == 2
    dynamodb.item_finish(item_id=ids[1], status="done", claimed_by="new:2:b", label=1, label_name="positive")

    stale = [
        {"item_id": item_id, "status": "done", "claimed_by": "old:1:a", "label": 0, "label_name": "negative"}
        for item_id in ids
    ]
    written, lost, stored = dynamodb.items_finish_many(outcomes=stale)
    assert (written, lost, list(stored)) == (1, ids[1:], [ids[0]])  # written one by one, so each is known
    with pytest.raises(ItemConflict):
        dynamodb.item_finish(**stale[1])

    first, newer, held = (dynamodb.item_get(item_id=item_id) for item_id in ids)
    assert (first["status"], first["label_name"], first["result_writes"]) == ("done", "negative", 1)
    assert (newer["status"], newer["label_name"], newer["result_writes"]) == ("done", "positive", 1)
    assert (held["status"], held["claimed_by"]) == ("running", "new:2:b")
    assert "result_writes" not in held


def _outcome(item_id: str, claimed_by: str) -> dict:
    return {"item_id": item_id, "status": "done", "claimed_by": claimed_by, "label": 1, "label_name": "positive"}


def test_a_queued_item_is_claimed_and_finished_in_one_write_only_as_it_was_queued(results_table):
    from dashboard.exceptions import ItemConflict

    queued, running, ours, done, changed = _queued(5, prefix="direct")
    dynamodb.item_claim(item_id=running, claimed_by="other:1:x", job_id="x")
    dynamodb.item_claim(item_id=ours, claimed_by="host:1:job", job_id="job")
    dynamodb.item_claim(item_id=done, claimed_by="w", job_id="w")
    dynamodb.item_finish(**_outcome(done, "w"))
    started = "2026-12-31T23:59:59.999999+00:00"

    def finish(item_id: str, text: str, job_id: str | None = "job") -> dict:
        return dynamodb.item_finish_queued(
            **_outcome(item_id, "host:2:job"), text=text, job_id=job_id, started_at=started
        )

    stored = finish(queued, "text number 0", job_id=None)
    assert (stored["status"], stored["label_name"], stored["result_writes"]) == ("done", "positive", 1)
    assert (stored["started_at"], stored["claimed_by"], stored.get("claim_job")) == (started, "host:2:job", None)
    assert dynamodb.item_get(item_id=queued) == stored
    assert finish(ours, "text number 2")["claim_job"] == "job"  # a retry of the job that holds it
    for item_id, text in [(running, "text number 1"), (done, "text number 3"), ("direct-none", "x")]:
        with pytest.raises(ItemConflict):
            finish(item_id, text)
    with pytest.raises(ItemConflict):
        finish(changed, "another text")
    assert dynamodb.item_get(item_id=changed)["status"] == "queued"
    assert dynamodb.item_get(item_id=running)["claimed_by"] == "other:1:x"
    assert dynamodb.item_get(item_id=done)["result_writes"] == 1
