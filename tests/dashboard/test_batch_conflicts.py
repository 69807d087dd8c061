"""Batches with the caller's own ids: a taken id is never overwritten, and a rollback removes only its own items."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.aws.dynamodb import retry, wire
from dashboard.csv_upload import BatchRow
from dashboard.exceptions import BatchConflict, ItemsExist, StoreUnavailable, TransactionCancelled
from dashboard.models import Batch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("capacity_on")]


def _post(client, auth, items: list[dict]):
    return client.post("/api/v1/batches", {"items": items}, content_type="application/json", headers=auth)


def test_a_second_batch_reusing_an_id_gets_409_with_the_ids_and_changes_nothing(client, auth, results_table, queue):
    first = _post(client, auth, [{"id": "mine-1", "text": "first"}, {"id": "mine-2", "text": "first too"}])
    assert first.status_code == 202
    before = dynamodb.item_get(item_id="mine-1")

    second = _post(client, auth, [{"id": "fresh", "text": "second"}, {"id": "mine-1", "text": "second"}])

    assert second.status_code == 409
    assert second.json()["ids"] == ["mine-1"] and "already exist" in second.json()["error"]
    assert dynamodb.item_get(item_id="mine-1") == before
    assert before["batch_id"] == first.json()["id"] and before["text"] == "first"
    assert dynamodb.items_get_many(item_ids=["fresh"]) == {}
    assert Batch.objects.count() == 1 and queue.count == 1


def test_409_is_documented_for_batches(user_client):
    responses = user_client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/batches"]["post"]["responses"]
    assert "409" in responses


def test_the_conditional_write_refuses_a_taken_id_in_a_later_chunk_and_removes_its_earlier_chunks(results_table):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="z-taken", text="someone else's"))
    items = []
    for n in range(150):  # ids sort before "z-taken": the first transaction of 100 is written, then the second loses
        item = dynamodb.new_item(item_id=f"a-{n:03d}", text=f"text {n}")
        items.append(item | {"batch_id": "b-new"})
    items.append(dynamodb.new_item(item_id="z-taken", text="mine") | {"batch_id": "b-new"})

    with pytest.raises(ItemsExist) as refused:
        dynamodb.items_put_new_many(items=items, batch_id="b-new")

    assert refused.value.ids == ["z-taken"]
    assert dynamodb.item_get(item_id="z-taken")["text"] == "someone else's"
    assert dynamodb.items_get_many(item_ids=[item["id"] for item in items]).keys() == {"z-taken"}


def test_a_rollback_deletes_only_the_items_that_carry_its_batch_id(results_table):
    mine = dynamodb.new_item(item_id="mine", text="ours") | {"batch_id": "b-ours"}
    theirs = dynamodb.new_item(item_id="theirs", text="another batch's") | {"batch_id": "b-theirs"}
    single = dynamodb.new_item(item_id="single", text="a single submission")
    dynamodb.items_put_many(items=[mine, theirs, single])

    deleted = dynamodb.items_delete_own(item_ids=["mine", "theirs", "single", "missing"], batch_id="b-ours")

    assert deleted == 1
    left = dynamodb.items_get_many(item_ids=["mine", "theirs", "single"])
    assert sorted(left) == ["single", "theirs"] and left["theirs"]["batch_id"] == "b-theirs"


@pytest.mark.parametrize(
    ("shared", "own"),
    [
        ([f"s-{n:03d}" for n in range(100)], 150),  # the shared ids sort after 150 of each batch's own
        ([f"0-{n:03d}" for n in range(30)], 220),  # the shared ids sort first
    ],
)
def test_two_batches_racing_with_overlapping_ids_give_exactly_one_202(
    results_table, queue, user, monkeypatch, shared, own
):
    """Both batches pass the look-up for taken ids before either writes: the conditional writes decide."""
    barrier = threading.Barrier(2)
    real_put = dynamodb.items_put_new_many

    def put_together(**kwargs):
        barrier.wait(timeout=30)
        return real_put(**kwargs)

    outcomes: dict[str, object] = {}

    def submit(name: str) -> None:
        rows = [BatchRow(text=f"{name} {n}", item_id=f"{name}-{n:03d}") for n in range(own)]
        rows += [BatchRow(text=f"{name} shared", item_id=item_id) for item_id in shared]
        try:
            outcomes[name] = services.batch_create(rows=rows, source="api", submitted_by=user)
        except BaseException as error:
            outcomes[name] = error
        finally:
            connection.close()

    monkeypatch.setattr(dynamodb, "items_put_new_many", put_together)
    threads = [threading.Thread(target=submit, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    won = [name for name, outcome in outcomes.items() if isinstance(outcome, Batch)]
    lost = [name for name, outcome in outcomes.items() if isinstance(outcome, BatchConflict)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    winner, loser = outcomes[won[0]], outcomes[lost[0]]
    assert loser.ids and set(loser.ids) <= set(shared)
    stored = dynamodb.items_get_many(item_ids=[f"{name}-{n:03d}" for name in "ab" for n in range(own)] + shared)
    assert sorted(stored) == sorted([f"{won[0]}-{n:03d}" for n in range(own)] + shared)
    assert {item["batch_id"] for item in stored.values()} == {winner.id}
    assert {item["text"] for item in stored.values() if item["id"] in shared} == {f"{won[0]} shared"}
    assert list(Batch.objects.values_list("id", flat=True)) == [winner.id]


def _batch_items(prefix: str, n: int, batch_id: str) -> list[dict]:
    return [dynamodb.new_item(item_id=f"{prefix}-{k:03d}", text=f"text {k}") | {"batch_id": batch_id} for k in range(n)]


def test_a_transaction_cancelled_by_a_concurrent_one_is_tried_again(results_table, monkeypatch):
    real_call = wire.call
    cancelled: list[str] = []
    waits: list[float] = []

    def conflicting_once(operation, **kwargs):
        if operation == "transact_write_items" and not cancelled:
            cancelled.append(operation)
            raise TransactionCancelled("conflict", reasons=["None", "TransactionConflict"])
        return real_call(operation, **kwargs)

    monkeypatch.setattr(wire, "call", conflicting_once)
    monkeypatch.setattr(retry, "_sleep", waits.append)
    items = _batch_items("t", 3, "b-new")

    dynamodb.items_put_new_many(items=items, batch_id="b-new")

    assert len(dynamodb.items_get_many(item_ids=[item["id"] for item in items])) == 3 and len(waits) == 1


def test_a_failed_transaction_rolls_back_the_batch_and_spares_an_item_it_did_not_write(results_table, monkeypatch):
    """The second transaction fails with no answer to trust: its items are deleted too, but only if they are ours."""
    foreign = dynamodb.new_item(item_id="t-150", text="another batch's") | {"batch_id": "b-other"}
    dynamodb.items_put_many(items=[foreign])
    real_call = wire.call
    transactions: list[int] = []

    def second_transaction_fails(operation, **kwargs):
        if operation == "transact_write_items" and "Put" in kwargs["TransactItems"][0]:
            transactions.append(len(kwargs["TransactItems"]))
            if len(transactions) == 2:
                raise StoreUnavailable("DynamoDB is unreachable: read timeout")
        return real_call(operation, **kwargs)

    monkeypatch.setattr(wire, "call", second_transaction_fails)
    items = [*_batch_items("t", 150, "b-new"), dynamodb.new_item(item_id="t-150", text="ours") | {"batch_id": "b-new"}]

    with pytest.raises(StoreUnavailable):
        dynamodb.items_put_new_many(items=items, batch_id="b-new")

    assert transactions == [100, 51]
    left = dynamodb.items_get_many(item_ids=[item["id"] for item in items])
    assert list(left) == ["t-150"] and left["t-150"]["text"] == "another batch's"
