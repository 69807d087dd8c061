"""Cancel during a batch: real jobs run in this process on the tiny model, against DynamoDB Local and Redis."""

from __future__ import annotations

import logging

import pytest

from classifier import jobs
from dashboard import cancel, services
from dashboard.aws import dynamodb
from dashboard.csv_upload import parse_lines

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _capacity_on(redis_conn):
    """No power manager here: the batch must not start a worker (tests/dashboard/conftest.py's capacity_on)."""
    from dashboard.power import CAPACITY_OK_KEY

    redis_conn.set(CAPACITY_OK_KEY, "1")


@pytest.fixture
def warm(tiny_engine):
    jobs.engine_set(tiny_engine)
    yield tiny_engine
    jobs.engine_set(None)


@pytest.fixture
def small_chunks(settings):
    settings.BATCH_ENQUEUE_CHUNK = 2  # several jobs per batch, so some can lose all their items


def _batch(user, count: int):
    rows = parse_lines("\n".join(f"review number {n}: it was lovely" for n in range(count))).rows
    return services.batch_create(rows=rows, source="paste", submitted_by=user)


def _run_queue(queue) -> None:
    """What a worker does: run every waiting classify job, in order."""
    for job in queue.get_jobs():
        jobs.classify_items(job.args[0])
        job.delete()


def test_cancelled_items_are_never_classified_and_the_rest_complete(user, results_table, queue, warm, small_chunks):
    batch = _batch(user, 6)
    ids = [job.args[0] for job in queue.get_jobs()]
    assert [len(chunk) for chunk in ids] == [2, 2, 2]
    doomed = ids[0] + ids[1][:1]  # all of the first job's items, one of the second's

    outcome = cancel.items_cancel(item_ids=doomed, user=user, reason="typo in the texts")
    assert outcome == {"cancelled": doomed, "left": []}
    assert [job.args[0] for job in queue.get_jobs()] == ids[1:], "the job with nothing left to do is removed"
    _run_queue(queue)

    items = {item["id"]: item for item in dynamodb.batch_items_iter(batch_id=batch.id)}
    for item_id in doomed:
        item = items[item_id]
        assert (item["status"], item["label"], item["model"], item.get("started_at")) == ("cancelled", None, None, None)
        assert item["error"] == "Cancelled by alice: typo in the texts"
    assert {items[i]["status"] for i in items if i not in doomed} == {"done"}
    counts = services.batch_progress(batch=batch)
    assert (counts["done"], counts["cancelled"], counts["queued"]) == (3, 3, 0)
    batch.refresh_from_db()
    assert batch.completed_at is not None


def test_an_item_cancelled_while_it_runs_stays_cancelled_and_its_result_is_dropped_quietly(
    user, results_table, warm, monkeypatch, caplog
):
    for item_id in ("keep", "drop"):
        item = dynamodb.new_item(item_id=item_id, text=f"{item_id}: a fine and lovely day")
        dynamodb.item_put_new(item=item | {"submitted_by": "alice"})
    predict = warm.predict_safe

    def cancelled_meanwhile(texts):
        assert dynamodb.item_get(item_id="drop")["status"] == "running"
        cancel.submission_cancel(item_id="drop", user=user, reason="not needed")
        return predict(texts)

    monkeypatch.setattr(warm, "predict_safe", cancelled_meanwhile)
    with caplog.at_level(logging.INFO, logger="classifier.jobs"):
        counts = jobs.classify_items(["keep", "drop"])

    assert counts == {"claimed": 2, "done": 1, "failed": 0}
    assert dynamodb.item_get(item_id="keep")["status"] == "done"
    dropped = dynamodb.item_get(item_id="drop")
    assert (dropped["status"], dropped["label"], dropped.get("result_writes")) == ("cancelled", None, None)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "a cancel is not a lost item"
    assert "cancelled while they ran" in caplog.text


def test_a_micro_batch_claims_no_cancelled_item(user, results_table):
    for item_id in ("a", "b", "c"):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=item_id) | {"submitted_by": "alice"})
    cancel.items_cancel(item_ids=["b"], user=user)

    claimed = dynamodb.items_claim_many(item_ids=["a", "b", "c"], claimed_by="host:1:job", job_id="job")

    assert [item["id"] for item in claimed] == ["a", "c"]
    assert dynamodb.item_claim(item_id="b", claimed_by="host:1:job", job_id="job") is None
    assert dynamodb.item_get(item_id="b")["status"] == "cancelled"
