"""DynamoDB unreachable: at submit a clear 503 and nothing enqueued; at the result write the job backs off,
retries, and the result lands exactly once."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from dashboard.aws import dynamodb
from dashboard.devservices import free_port
from dashboard.services import api_token_create
from tests.conftest import queue_unreachable
from tests.faults.conftest import wait_finished

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_down(settings):
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_the_form_says_503_and_enqueues_nothing(user_client, queue, store_down):
    response = user_client.post(reverse("dashboard:submit"), {"text": "Is anyone there?"})

    assert response.status_code == 503
    assert "Not submitted: DynamoDB is unreachable" in response.content.decode()
    assert queue.count == 0


def test_the_api_says_503_with_retry_after_and_enqueues_nothing(client, user, queue, store_down):
    _, token = api_token_create(user=user)
    response = client.post(
        "/api/v1/submissions",
        {"text": "Is anyone there?"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 503
    assert response.json()["error"].startswith("Not submitted: DynamoDB is unreachable")
    assert response["Retry-After"]
    assert queue.count == 0


def test_a_batch_says_503_and_enqueues_nothing(client, user, queue, store_down):
    _, token = api_token_create(user=user)
    response = client.post(
        "/api/v1/batches",
        {"texts": ["one", "two", "three"]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 503
    assert "Nothing was submitted" in response.json()["error"]
    assert queue.count == 0


def test_health_says_not_ready_while_the_site_keeps_answering(client, store_down):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["dynamodb"] == "error"
    assert client.get("/healthz").status_code == 200


def test_health_says_not_ready_without_redis_while_the_site_keeps_answering(client, results_table, settings):
    assert client.get("/readyz").status_code == 200
    queue_unreachable(settings)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"redis": "error", "dynamodb": "ok"}
    assert client.get("/healthz").status_code == 200


@pytest.mark.slow
def test_a_result_write_that_fails_is_retried_with_backoff_and_lands_once(workers, results_table, queue, dynamo_proxy):
    from dashboard.queue import classify_enqueue

    texts = ["I love it, wonderful.", "Terrible, I hate it.", "Great value.", "Awful service."]
    ids = []
    for number, text in enumerate(texts):
        item = dynamodb.new_item(item_id=f"write-fault-{number}", text=text)
        dynamodb.item_put_new(item=item)
        ids.append(item["id"])
    dynamo_proxy.blocked_if["TransactWriteItems"] = b"result_writes"  # the result write, not the claim
    job_id = classify_enqueue(item_ids=ids)
    worker = workers.start(
        "write-fault",
        DYNAMODB_ENDPOINT_URL=dynamo_proxy.url,
        RESULT_WRITE_RETRY_SECONDS="1",
        RESULT_WRITE_BACKOFF_S="0.3",
        INFERENCE_JOB_RETRIES="6",
    )

    deadline = time.monotonic() + 180
    while "kept for the retry" not in workers.log(worker):  # the in-job retries gave up; the job failed
        assert time.monotonic() < deadline, workers.log(worker)
        assert worker.poll() is None, workers.log(worker)
        time.sleep(0.2)
    assert {item["status"] for item in dynamodb.items_get_many(item_ids=ids).values()} == {"running"}
    dynamo_proxy.blocked_if.clear()  # DynamoDB is back

    items = wait_finished(ids, timeout=120, alive=[worker])

    assert {item["status"] for item in items.values()} == {"done"}
    assert all(item["result_writes"] == 1 for item in items.values())
    assert dynamo_proxy.dropped.count("TransactWriteItems") >= 2
    assert "result write failed" in workers.log(worker)
    from rq.job import Job

    # The job drops its stash just after the results land: wait for the job itself to finish.
    deadline = time.monotonic() + 30
    job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    while job.get_status() != "finished" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    assert job.get_status() == "finished"
    assert job.retries_left < 6  # RQ ran it again
    assert "unwritten_outcomes" not in job.meta
