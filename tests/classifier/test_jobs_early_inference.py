"""A job that brings its items' texts runs the model while its claim is in flight, and still keeps
only what the claim took. Real Redis, DynamoDB Local, the demo model and the real worker loop."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings as live_settings
from rq.job import Job

from classifier import jobs
from classifier.worker import worker_run
from dashboard.aws import dynamodb
from dashboard.queue import classify_enqueue, redis_connection

pytestmark = pytest.mark.django_db

CLAIM_SECONDS = 0.3


def _queued(item_id: str, text: str) -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=text))


def _work(engine) -> None:
    worker_run(queue_names=[live_settings.INFERENCE_QUEUE], connection=redis_connection(), engine=engine, burst=True)


@pytest.fixture
def timed(monkeypatch, engine):
    """A claim that takes CLAIM_SECONDS, and when it ended and when the model started, by the clock."""
    seen: dict[str, float] = {}
    claim, predict = dynamodb.items_claim_many, engine.predict_safe

    def slow_claim(**kwargs):
        time.sleep(CLAIM_SECONDS)
        try:
            return claim(**kwargs)
        finally:
            seen["claim_ended"] = time.monotonic()

    def watched_predict(texts):
        seen.setdefault("inference_started", time.monotonic())
        seen["texts"] = list(texts)
        return predict(texts)

    monkeypatch.setattr(dynamodb, "items_claim_many", slow_claim)
    monkeypatch.setattr(engine, "predict_safe", watched_predict)
    yield seen
    jobs.engine_set(None)


def test_the_model_runs_while_the_claim_is_in_flight(results_table, queue, engine, timed):
    text = "The staff were lovely and the food was delicious."
    _queued("early", text)
    classify_enqueue(item_ids=["early"], texts={"early": text})

    _work(engine)

    item = dynamodb.item_get(item_id="early")
    assert item["status"] == "done" and item["label_name"] == engine.predict([text])[0].label_name
    assert timed["inference_started"] < timed["claim_ended"]
    assert item["inference_started_at"] < item["started_at"]  # the claim's own stamp


def test_without_its_texts_a_job_claims_first(results_table, queue, engine, timed):
    _queued("late", "The staff were lovely.")
    classify_enqueue(item_ids=["late"])

    _work(engine)

    assert dynamodb.item_get(item_id="late")["status"] == "done"
    assert timed["inference_started"] > timed["claim_ended"]


def test_a_claimed_item_is_classified_on_its_stored_text(results_table, queue, engine, timed):
    stored = "This is terrible, I hate it. It broke after a day."
    _queued("differs", stored)
    classify_enqueue(item_ids=["differs"], texts={"differs": "I love it, it is wonderful."})

    _work(engine)

    item = dynamodb.item_get(item_id="differs")
    expected = engine.predict([stored])[0]
    assert (item["status"], item["label_name"]) == ("done", expected.label_name)
    assert item["confidence"] == pytest.approx(expected.confidence, abs=1e-2)
    assert timed["texts"] == [stored]


def test_an_item_taken_before_the_claim_gets_nothing_from_the_early_run(results_table, queue, engine, timed):
    text = "Great value, very happy."
    _queued("taken", text)
    jobs.engine_set(engine)
    jobs.classify_items(["taken"])
    first = dynamodb.item_get(item_id="taken")
    classify_enqueue(item_ids=["taken"], texts={"taken": text})

    _work(engine)

    assert dynamodb.item_get(item_id="taken") == first
    [job_id] = queue.finished_job_registry.get_job_ids()
    assert Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).return_value() == {
        "claimed": 0,
        "done": 0,
        "failed": 0,
    }


def test_a_claim_that_fails_fails_the_job_after_the_early_run(results_table, queue, engine, monkeypatch):
    from dashboard.exceptions import StoreUnavailable

    _queued("unclaimable", "Lovely.")

    def unreachable(**kwargs):
        raise StoreUnavailable("DynamoDB is away")

    monkeypatch.setattr(dynamodb, "items_claim_many", unreachable)
    jobs.engine_set(engine)
    try:
        with pytest.raises(StoreUnavailable):
            jobs._claimed_and_classified(
                engine, ["unclaimable"], texts={"unclaimable": "Lovely."}, holder="h", job_id=None
            )
    finally:
        jobs.engine_set(None)
    assert dynamodb.item_get(item_id="unclaimable")["status"] == "queued"


def test_the_claim_thread_carries_the_jobs_log_fields(results_table, engine, monkeypatch):
    import structlog

    seen = {}

    def claim(**kwargs):
        seen["fields"] = structlog.contextvars.get_contextvars()
        seen["thread"] = threading.current_thread().name
        return []

    monkeypatch.setattr(dynamodb, "items_claim_many", claim)
    with structlog.contextvars.bound_contextvars(job_id="job-7"):
        jobs._claimed_and_classified(engine, ["x"], texts={"x": "Lovely."}, holder="h", job_id="job-7")
    assert seen["fields"]["job_id"] == "job-7" and seen["thread"] != threading.current_thread().name
