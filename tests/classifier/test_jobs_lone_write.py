"""A job that brings its lone item's text runs the model first, then claims the item and writes its
result in one conditional request; anything else goes through the claim. Real Redis, DynamoDB Local,
the demo model and the real worker loop."""

from __future__ import annotations

import pytest
from django.conf import settings as live_settings
from rq.job import Job

from classifier import jobs
from classifier.worker import worker_run
from dashboard.aws import dynamodb
from dashboard.aws.dynamodb import wire
from dashboard.exceptions import StoreUnavailable
from dashboard.queue import classify_enqueue, redis_connection

pytestmark = pytest.mark.django_db


def _queued(item_id: str, text: str) -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=text))


def _work(engine) -> None:
    worker_run(queue_names=[live_settings.INFERENCE_QUEUE], connection=redis_connection(), engine=engine, burst=True)


def _return_value(queue) -> dict:
    [job_id] = queue.finished_job_registry.get_job_ids()
    return Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).return_value()


@pytest.fixture
def watched(monkeypatch, engine):
    """The worker's DynamoDB requests (operation and condition) and the texts the model ran on."""
    seen: dict[str, list] = {"requests": [], "texts": []}
    call, predict = wire.call, engine.predict_safe

    def watched_call(operation, **kwargs):
        seen["requests"].append((operation, kwargs.get("ConditionExpression", "")))
        return call(operation, **kwargs)

    def watched_predict(texts):
        seen["texts"].append(list(texts))
        return predict(texts)

    monkeypatch.setattr(wire, "call", watched_call)
    monkeypatch.setattr(engine, "predict_safe", watched_predict)
    yield seen
    jobs.engine_set(None)


def test_a_lone_item_is_claimed_and_written_in_one_request(results_table, queue, engine, watched):
    text = "The staff were lovely and the food was delicious."
    _queued("lone", text)
    job_id = classify_enqueue(item_ids=["lone"], texts={"lone": text})
    watched["requests"].clear()

    _work(engine)

    item = dynamodb.item_get(item_id="lone")
    expected = engine.predict([text])[0]
    assert (item["status"], item["label_name"]) == ("done", expected.label_name)
    assert item["confidence"] == pytest.approx(expected.confidence, abs=1e-2)
    assert item["claim_job"] == job_id and item["claimed_by"].endswith(f":{job_id}")
    assert item["started_at"] == item["inference_started_at"] <= item["inference_finished_at"]
    assert item["result_writes"] == 1
    writes = [request for request in watched["requests"] if request[0] != "get_item"]
    assert writes == [("update_item", writes[0][1])] and "#t = :text" in writes[0][1]
    assert _return_value(queue) == {"claimed": 1, "done": 1, "failed": 0}


def test_without_its_text_a_job_claims_first(results_table, queue, engine, watched):
    _queued("late", "The staff were lovely.")
    classify_enqueue(item_ids=["late"])
    watched["requests"].clear()

    _work(engine)

    assert dynamodb.item_get(item_id="late")["status"] == "done"
    conditions = [condition for operation, condition in watched["requests"] if operation == "update_item"]
    assert len(conditions) == 2 and "#t = :text" not in conditions[0] and "claimed_by = :by" in conditions[1]


def test_an_item_whose_stored_text_differs_is_classified_again_on_it(results_table, queue, engine, watched):
    stored = "This is terrible, I hate it. It broke after a day."
    _queued("differs", stored)
    classify_enqueue(item_ids=["differs"], texts={"differs": "I love it, it is wonderful."})

    _work(engine)

    item = dynamodb.item_get(item_id="differs")
    expected = engine.predict([stored])[0]
    assert (item["status"], item["label_name"]) == ("done", expected.label_name)
    assert item["confidence"] == pytest.approx(expected.confidence, abs=1e-2)
    assert watched["texts"] == [["I love it, it is wonderful."], [stored]]


def test_an_item_taken_before_the_write_gets_nothing_from_the_early_run(results_table, queue, engine, watched):
    text = "Great value, very happy."
    _queued("taken", text)
    jobs.engine_set(engine)
    jobs.classify_items(["taken"])
    first = dynamodb.item_get(item_id="taken")
    classify_enqueue(item_ids=["taken"], texts={"taken": text})

    _work(engine)

    assert dynamodb.item_get(item_id="taken") == first
    assert _return_value(queue) == {"claimed": 0, "done": 0, "failed": 0}


def test_an_item_cancelled_while_the_model_runs_stays_cancelled(results_table, queue, engine, monkeypatch):
    text = "Not worth the money."
    _queued("cancelled", text)
    predict = engine.predict_safe

    def cancelled_meanwhile(texts):
        dynamodb.item_cancel(item_id="cancelled", cancelled_by="alice", reason="changed my mind")
        return predict(texts)

    monkeypatch.setattr(engine, "predict_safe", cancelled_meanwhile)
    classify_enqueue(item_ids=["cancelled"], texts={"cancelled": text})

    _work(engine)
    jobs.engine_set(None)

    item = dynamodb.item_get(item_id="cancelled")
    assert (item["status"], item.get("label")) == ("cancelled", None)
    assert item["error"] == "Cancelled by alice: changed my mind"
    assert _return_value(queue) == {"claimed": 0, "done": 0, "failed": 0}


def test_a_write_that_gets_no_answer_leaves_the_item_to_the_claim(results_table, queue, engine, watched, monkeypatch):
    text = "Lovely little place."
    _queued("unanswered", text)

    def unreachable(**kwargs):
        raise StoreUnavailable("DynamoDB did not answer")

    monkeypatch.setattr(dynamodb, "item_finish_queued", unreachable)
    classify_enqueue(item_ids=["unanswered"], texts={"unanswered": text})

    _work(engine)

    item = dynamodb.item_get(item_id="unanswered")
    assert item["status"] == "done" and item["result_writes"] == 1
    assert watched["texts"] == [[text], [text]]


def test_a_job_whose_item_an_earlier_batch_took_does_not_run_the_model_again(results_table, queue, engine, watched):
    texts = {"absorbing-a": "Wonderful food.", "absorbed-b": "Dreadful service."}
    for item_id, text in texts.items():
        _queued(item_id, text)
        classify_enqueue(item_ids=[item_id], texts={item_id: text})

    _work(engine)

    assert {dynamodb.item_get(item_id=item_id)["status"] for item_id in texts} == {"done"}
    assert watched["texts"] == [list(texts.values())]  # one batch of both; the second job ran nothing
