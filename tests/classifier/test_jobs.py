"""The RQ job against the real DynamoDB Local and the demo model, in this process."""

from __future__ import annotations

import pytest

from classifier import jobs
from classifier.contracts import STASH_KEY
from classifier.postprocess import probabilities_named
from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db


@pytest.fixture
def warm(engine):
    jobs.engine_set(engine)
    yield engine
    jobs.engine_set(None)


def _queued(item_id: str, text: str) -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=text))


def test_it_turns_queued_items_into_done_with_a_label(results_table, warm):
    _queued("pos", "I love this, it is wonderful and works perfectly.")
    _queued("neg", "This is terrible, I hate it. It broke after a day.")

    counts = jobs.classify_items(["pos", "neg"])

    assert counts == {"claimed": 2, "done": 2, "failed": 0}
    positive, negative = dynamodb.item_get(item_id="pos"), dynamodb.item_get(item_id="neg")
    assert (positive["status"], positive["label"], positive["label_name"]) == ("done", 1, "positive")
    assert (negative["status"], negative["label"], negative["label_name"]) == ("done", 0, "negative")
    for item in (positive, negative):
        assert isinstance(item["label"], int)
        assert 0.5 <= item["confidence"] <= 1.0
        assert item["model"] == warm.model_name
        assert item["finished_at"] >= item["created_at"]
        assert item["error"] is None


def test_a_done_item_stores_every_classs_probability_by_label_name(results_table, warm):
    texts = {"pos": "I love this, it is wonderful and works perfectly.", "neg": "This is terrible, I hate it."}
    for item_id, text in texts.items():
        _queued(item_id, text)

    jobs.classify_items(list(texts))

    expected = dict(zip(texts, warm.predict(list(texts.values())), strict=True))
    for item_id, prediction in expected.items():
        item = dynamodb.item_get(item_id=item_id)
        named = {warm.id2label[i]: p for i, p in enumerate(prediction.probabilities)}
        # Near, not equal: the session's engine may run in bf16, where a text's padding in its batch
        # moves the third decimal. Compared as maps: DynamoDB keeps no order of a map's keys.
        assert item["probabilities"] == pytest.approx(named, abs=1e-2)
        assert item["probabilities"][item["label_name"]] == item["confidence"]
        assert sum(item["probabilities"].values()) == pytest.approx(1.0)


def test_probabilities_are_named_by_id_where_the_model_names_no_class():
    assert probabilities_named([0.25, 0.5, 0.25], {0: "neg", 2: "pos"}) == {
        "neg": 0.25,
        "LABEL_1": 0.5,
        "pos": 0.25,
    }


def test_a_second_run_of_the_same_job_is_a_no_op(results_table, warm):
    _queued("once", "Great value, very happy.")
    jobs.classify_items(["once"])
    first = dynamodb.item_get(item_id="once")

    assert jobs.classify_items(["once"]) == {"claimed": 0, "done": 0, "failed": 0}
    assert dynamodb.item_get(item_id="once") == first


def test_unknown_ids_are_skipped(results_table, warm):
    assert jobs.classify_items(["does-not-exist"])["claimed"] == 0


def test_a_poison_input_fails_alone_with_its_reason(results_table, warm, monkeypatch):
    _queued("good", "Lovely staff and a great meal.")
    _queued("poison", "POISON text that makes the model raise")
    original = warm._predict_batch

    def predict_batch(encoded):
        poison = warm.tokenizer("POISON text that makes the model raise")["input_ids"]
        if any(list(item["input_ids"]) == list(poison) for item in encoded):
            raise RuntimeError("simulated kernel failure")
        return original(encoded)

    monkeypatch.setattr(warm, "_predict_batch", predict_batch)
    counts = jobs.classify_items(["good", "poison"])

    assert counts == {"claimed": 2, "done": 1, "failed": 1}
    assert dynamodb.item_get(item_id="good")["status"] == "done"
    failed = dynamodb.item_get(item_id="poison")
    assert failed["status"] == "failed"
    assert "simulated kernel failure" in failed["error"]
    assert failed["label"] is None
    assert failed["probabilities"] is None


def test_the_memory_of_ids_already_tried_is_bounded_and_keeps_the_newest(monkeypatch):
    monkeypatch.setattr(jobs, "DECIDED_LIMIT", 3)
    monkeypatch.setattr(jobs, "_decided", {})

    jobs._decided_add(["a", "b", "c", "d"])
    jobs._decided_add(["b"])

    assert list(jobs._decided) == ["c", "d", "b"]


def test_a_failing_result_write_backs_off_exponentially_then_keeps_the_results_for_the_retry(monkeypatch, settings):
    """The delays double (capped at 10 s) within RESULT_WRITE_RETRY_SECONDS; then the outcomes are stashed."""
    from dashboard.exceptions import StoreUnavailable

    settings.RESULT_WRITE_BACKOFF_S = 0.5
    settings.RESULT_WRITE_RETRY_SECONDS = 60.0
    clock = {"now": 1000.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds

    def unreachable(*, outcomes):
        raise StoreUnavailable("DynamoDB is unreachable")

    class Job:
        id, meta = "job-1", {}

        def save_meta(self) -> None:
            pass

    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(jobs.time, "sleep", sleep)
    monkeypatch.setattr(jobs.dynamodb, "items_finish_many", unreachable)
    records = [{"item_id": "a", "status": "done", "claimed_by": "me", "label": 1}]
    job = Job()

    with pytest.raises(StoreUnavailable, match="kept for the retry"):
        jobs._finish_with_backoff(records, job=job)

    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]  # 55.5 s; another 10 s would pass 60
    assert job.meta[STASH_KEY] == records


def test_finished_items_are_handed_to_the_webhooks_queue_in_one_cheap_job(results_table, warm, redis_conn):
    from dashboard.webhooks.queue import ITEMS_FINISHED_JOB, webhooks_queue

    _queued("pos", "I love this, it is wonderful and works perfectly.")
    _queued("neg", "This is terrible, I hate it.")

    jobs.classify_items(["pos", "neg"])

    [job] = webhooks_queue().get_jobs()
    assert job.func_name == ITEMS_FINISHED_JOB
    assert [sorted(job.args[0])] == [["neg", "pos"]]


def test_an_unreachable_webhooks_queue_never_fails_the_classification(results_table, warm, settings, caplog):
    from tests.conftest import queue_unreachable

    _queued("pos", "I love this, it is wonderful and works perfectly.")
    queue_unreachable(settings)

    assert jobs.classify_items(["pos"]) == {"claimed": 1, "done": 1, "failed": 0}
    assert dynamodb.item_get(item_id="pos")["status"] == "done"
    assert "webhook events for 1 item(s) were not queued" in caplog.text


def test_the_worker_stores_when_it_took_the_job_claimed_and_ran_the_model(results_table, warm):
    from classifier.contracts import timestamp_parse

    _queued("timed", "I love this, it is wonderful and works perfectly.")

    jobs.classify_items(["timed"])

    item = dynamodb.item_get(item_id="timed")
    moments = [
        timestamp_parse(item[name])
        for name in ("created_at", "dequeued_at", "started_at", "inference_started_at", "inference_finished_at")
    ]
    assert None not in moments
    assert moments == sorted(moments)  # in the order they happen
    assert timestamp_parse(item["finished_at"]) >= moments[-1]
    # Stored beside the result, not in it: the API's result schema is unchanged.
    assert set(dynamodb.ITEM_TIMING_FIELDS).isdisjoint(dynamodb.ITEM_FIELDS)


def test_a_requeued_item_loses_its_last_runs_timings(results_table, warm):
    _queued("again", "Great value, very happy.")
    jobs.classify_items(["again"])

    assert dynamodb.item_requeue(item_id="again")

    item = dynamodb.item_get(item_id="again")
    assert [item.get(name) for name in dynamodb.ITEM_TIMING_FIELDS] == [None, None, None]


def test_finish_refuses_a_timing_field_it_does_not_know(results_table):
    with pytest.raises(ValueError, match="unknown timing field"):
        dynamodb.item_finish(item_id="x", status="done", claimed_by="me", timings={"lunch_at": "noon"})


def test_each_stored_result_is_announced_on_its_channel_after_the_write(results_table, warm, redis_conn):
    from classifier.contracts import result_channel

    _queued("pos", "I love this, it is wonderful and works perfectly.")
    _queued("neg", "This is terrible, I hate it.")
    listener = redis_conn.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(result_channel("pos"), result_channel("neg"))
    listener.get_message(timeout=1)  # the confirmations
    listener.get_message(timeout=1)

    jobs.classify_items(["pos", "neg"])

    announced = {listener.get_message(timeout=2)["data"] for _ in range(2)}
    assert announced == {b"pos", b"neg"}
    assert dynamodb.item_get(item_id="pos")["status"] == "done"  # written before it was announced
    listener.close()


def test_an_unreachable_redis_never_fails_the_result_announcement(results_table, warm, settings, caplog):
    from tests.conftest import queue_unreachable

    _queued("pos", "I love this, it is wonderful and works perfectly.")
    queue_unreachable(settings)

    assert jobs.classify_items(["pos"]) == {"claimed": 1, "done": 1, "failed": 0}
    assert "could not announce 1 result(s)" in caplog.text
