"""Every class's probability on a result item, against the real DynamoDB Local: written with the outcome,
read back as floats by every read path, cleared where the result is cleared."""

from __future__ import annotations

import pytest

from dashboard.aws import dynamodb
from dashboard.aws.dynamodb import wire

pytestmark = pytest.mark.django_db

PROBABILITIES = {"negative": 0.12345678901234567, "positive": 0.8765432109876543}


def _running(item_id: str, holder: str = "host:1:job") -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}"))
    assert dynamodb.item_claim(item_id=item_id, claimed_by=holder, job_id="job")


def _done(item_id: str, probabilities: dict[str, float] = PROBABILITIES) -> None:
    _running(item_id)
    dynamodb.item_finish(
        item_id=item_id,
        status="done",
        claimed_by="host:1:job",
        label=1,
        label_name="positive",
        confidence=probabilities["positive"],
        probabilities=probabilities,
        model="m",
    )


def test_a_new_item_has_the_field_and_it_is_null(results_table):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="new", text="hello"))

    item = dynamodb.item_get(item_id="new")

    assert "probabilities" in item and item["probabilities"] is None


def test_a_done_item_reads_back_every_class_as_an_exact_float(results_table):
    _done("done-1")

    item = dynamodb.item_get(item_id="done-1")

    assert item["probabilities"] == PROBABILITIES
    assert all(type(value) is float for value in item["probabilities"].values())


def test_every_read_path_returns_the_map_as_floats(results_table):
    _done("read-1")

    paths = {
        "get_many": dynamodb.items_get_many(item_ids=["read-1"])["read-1"],
        "newest page": dynamodb.items_page_newest(limit=10)[0][0],
        "label filter": dynamodb.items_page(item_filter=dynamodb.ItemFilter(label="positive"), limit=10).items[0],
        "status query": next(dynamodb.items_with_status(status="done")),
        "iter": next(dynamodb.items_iter(item_filter=dynamodb.ItemFilter())),
    }

    for name, item in paths.items():
        assert item["probabilities"] == PROBABILITIES, name


def _outcomes(ids: list[str]) -> list[dict]:
    return [
        {
            "item_id": item_id,
            "status": "done",
            "claimed_by": "host:1:job",
            "label": 0,
            "label_name": "negative",
            "confidence": 0.75,
            "probabilities": {"negative": 0.75, "positive": 0.25},
            "model": "m",
        }
        for item_id in ids
    ]


def test_a_micro_batch_writes_the_map_in_one_transaction(results_table, monkeypatch):
    ids = [f"batch-{n}" for n in range(3)]
    for item_id in ids:
        _running(item_id)
    operations: list[str] = []
    call = wire.call

    def recorded(operation, **kwargs):
        operations.append(operation)
        return call(operation, **kwargs)

    monkeypatch.setattr(wire, "call", recorded)

    assert dynamodb.items_finish_many(outcomes=_outcomes(ids)) == (3, [], {})  # a transaction returns no items

    assert operations == ["transact_write_items"]
    monkeypatch.undo()
    assert [dynamodb.item_get(item_id=i)["probabilities"] for i in ids] == [{"negative": 0.75, "positive": 0.25}] * 3


def test_a_lone_outcome_is_one_update_that_returns_the_item_as_stored(results_table, monkeypatch):
    _running("lone-1")
    operations: list[str] = []
    call = wire.call

    def recorded(operation, **kwargs):
        operations.append(operation)
        return call(operation, **kwargs)

    monkeypatch.setattr(wire, "call", recorded)

    written, lost, stored = dynamodb.items_finish_many(outcomes=_outcomes(["lone-1"]))

    assert (written, lost, operations) == (1, [], ["update_item"])
    monkeypatch.undo()
    assert stored == {"lone-1": dynamodb.item_get(item_id="lone-1")}
    assert stored["lone-1"]["status"] == "done" and stored["lone-1"]["finished_at"]


def test_a_cancelled_transaction_writes_the_map_item_by_item(results_table):
    ids = [f"batch-{n}" for n in range(3)]
    for item_id in ids:
        _running(item_id)
    # One item taken from this worker cancels the transaction; the other two are written one by one.
    assert dynamodb.item_release(item_id=ids[2], claimed_by="host:1:job")

    written, lost, stored = dynamodb.items_finish_many(outcomes=_outcomes(ids))

    assert (written, lost, sorted(stored)) == (2, [ids[2]], ids[:2])

    assert [dynamodb.item_get(item_id=i)["probabilities"] for i in ids] == [
        {"negative": 0.75, "positive": 0.25},
        {"negative": 0.75, "positive": 0.25},
        None,
    ]


def test_a_failed_item_has_no_probabilities(results_table):
    _running("failed-1")

    dynamodb.item_finish(item_id="failed-1", status="failed", claimed_by="host:1:job", error="boom", model="m")

    item = dynamodb.item_get(item_id="failed-1")
    assert item["status"] == "failed" and item["probabilities"] is None


def test_a_requeue_clears_the_map_with_the_label(results_table):
    _done("again-1")

    assert dynamodb.item_requeue(item_id="again-1")

    item = dynamodb.item_get(item_id="again-1")
    assert (item["status"], item["label"], item["confidence"], item["probabilities"]) == ("queued", None, None, None)


def test_a_probability_too_small_for_dynamodb_is_stored_as_zero(results_table):
    # exp(-460) is about 1e-200: a softmax gives that for a class 460 logits below the top one, and
    # DynamoDB refuses any number nearer zero than 1e-130.
    _done("tiny-1", probabilities={"negative": 1e-200, "positive": 1.0})

    assert dynamodb.item_get(item_id="tiny-1")["probabilities"] == {"negative": 0.0, "positive": 1.0}


def test_numbers_inside_maps_and_lists_decode_as_floats_and_only_a_top_level_label_as_an_int():
    raw = {
        "label": {"N": "1"},
        "probabilities": {"M": {"label": {"N": "1"}, "b": {"N": "0.5"}}},
        "seen": {"L": [{"N": "2"}, {"M": {"x": {"N": "0.25"}}}]},
    }

    decoded = {key: wire.value_decode(key, value) for key, value in raw.items()}

    assert decoded == {"label": 1, "probabilities": {"label": 1.0, "b": 0.5}, "seen": [2.0, {"x": 0.25}]}
    assert type(decoded["probabilities"]["label"]) is float
    assert wire.encode({"a": 0.1, "b": [0.2]}) == {"M": {"a": {"N": "0.1"}, "b": {"L": [{"N": "0.2"}]}}}


def test_an_items_counters_decode_as_ints_and_its_other_numbers_as_floats():
    raw = {"result_writes": {"N": "1"}, "recoveries": {"N": "2"}, "confidence": {"N": "1"}}

    decoded = {key: wire.value_decode(key, value) for key, value in raw.items()}

    assert [type(decoded[key]) for key in ("result_writes", "recoveries", "confidence")] == [int, int, float]
