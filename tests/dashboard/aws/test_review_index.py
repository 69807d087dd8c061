"""The review index in DynamoDB Local: unlabelled done items, least confident first; an older table gaining it."""

from __future__ import annotations

import uuid

import pytest

from dashboard.aws import dynamodb
from dashboard.aws.dynamodb import labels, schema, wire
from tests.dashboard.labels.support import done_item, queued_item


def _ids(items) -> list[str]:
    return [item["id"] for item in items]


def test_the_queue_is_the_models_unlabelled_done_items_least_confident_first(results_table):
    for item_id, confidence in [("c", 0.9), ("a", 0.51), ("b", 0.7)]:
        done_item(item_id, confidence=confidence)
    done_item("x", confidence=0.5, model="other")
    queued_item("q")
    dynamodb.item_label_set(item_id="b", label=0, label_name="negative", labelled_by="t", previous=None)

    assert _ids(dynamodb.review_queue(model="m", limit=10)) == ["a", "c"]
    assert _ids(dynamodb.review_queue(model="m", limit=10, after=(0.51, "a"))) == ["c"]
    assert _ids(dynamodb.review_queue(model="m", limit=10, below=0.8)) == ["a"]
    assert _ids(dynamodb.review_queue(model="other", limit=10)) == ["x"]


def test_a_rerun_labelled_item_stays_out_of_the_queue(results_table):
    done_item("a", confidence=0.6)
    dynamodb.item_label_set(item_id="a", label=0, label_name="negative", labelled_by="t", previous=None)
    assert dynamodb.item_requeue(item_id="a")
    dynamodb.item_claim(item_id="a", claimed_by="t")
    dynamodb.item_finish(
        item_id="a", status="done", claimed_by="t", label=1, label_name="positive", confidence=0.6, model="m"
    )

    assert dynamodb.item_get(item_id="a")["human_label_name"] == "negative"  # the truth about the text stays
    assert dynamodb.review_queue(model="m", limit=5) == []


def test_the_queue_reads_past_labelled_entries_a_page_at_a_time(results_table, monkeypatch):
    monkeypatch.setattr(labels, "REVIEW_READ", 2)
    for n in range(5):
        done_item(f"i-{n}", confidence=0.5 + n / 100)
    for n in range(3):  # the three least confident are labelled, but a re-run put their keys back
        dynamodb.item_label_set(item_id=f"i-{n}", label=0, label_name="negative", labelled_by="t", previous=None)
        wire.call(
            "update_item",
            TableName=wire.table_name(),
            Key={"id": {"S": f"i-{n}"}},
            UpdateExpression="SET idx_review = :m, idx_confidence = :c",
            ExpressionAttributeValues={":m": {"S": "m"}, ":c": {"N": str(0.5 + n / 100)}},
        )
    assert _ids(dynamodb.review_queue(model="m", limit=1)) == ["i-3"]


@pytest.fixture
def older_table(settings):
    """A results table as made before the review index existed, with one done item in it."""
    name = f"test-older-{uuid.uuid4().hex[:10]}"
    settings.DYNAMODB_TABLE = name
    older = tuple(spec for spec in schema.EXPLORER_INDEXES if spec.name != schema.INDEX_BY_REVIEW)
    schema.table_create(
        name=name,
        attributes={"id": "S", "created_month": "S", "created_at": "S", "status": "S"}
        | {spec.partition: "S" for spec in older},
        indexes=[
            schema.index_definition(schema.IndexSpec(schema.INDEX_BY_CREATED, "created_month")),
            schema.index_definition(schema.IndexSpec(schema.INDEX_BY_STATUS, "status")),
            *(schema.index_definition(spec) for spec in older),
        ],
        wait_seconds=30,
    )
    item = dynamodb.new_item(item_id="old", text="finished long ago") | {
        "status": "done",
        "label": 1,
        "label_name": "positive",
        "confidence": 0.55,
        "model": "m",
    }
    wire.call("put_item", TableName=name, Item=wire.item_wire(item))
    yield name
    dynamodb.table_delete(name=name)


def test_an_older_table_gains_the_review_index_with_its_done_items_in_it(older_table):
    assert dynamodb.table_ensure(name=older_table, wait_seconds=60) is False

    indexes = {index["IndexName"] for index in schema.table_describe(name=older_table)["GlobalSecondaryIndexes"]}
    assert schema.INDEX_BY_REVIEW in indexes
    assert _ids(dynamodb.review_queue(model="m", limit=5)) == ["old"]
