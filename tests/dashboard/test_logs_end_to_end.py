"""Following one submission from the web to the worker by its request id, against the real Redis,
DynamoDB Local and the demo model: the job carries the id in its meta, the worker's lines name it.
"""

from __future__ import annotations

import threading

import pytest
import structlog
from django.conf import settings as live_settings
from rq.job import Job

from classifier.contracts import LOG_CONTEXT_KEY, log_context_request_id
from classifier.worker import worker_run
from dashboard.aws import dynamodb
from dashboard.queue import redis_connection

pytestmark = pytest.mark.django_db

SUBMISSIONS = "/api/v1/submissions"


def _submit(client, auth, text: str, request_id: str) -> str:
    response = client.post(
        SUBMISSIONS, {"text": text}, content_type="application/json", headers=auth | {"X-Request-ID": request_id}
    )
    assert response.status_code == 202 and response["X-Request-ID"] == request_id
    return response.json()["id"]


def _jobs(queue) -> list[Job]:
    return [
        job
        for job in Job.fetch_many(queue.get_job_ids(), connection=queue.connection, serializer=queue.serializer)
        if job is not None
    ]


def _work(engine) -> None:
    worker_run(queue_names=[live_settings.INFERENCE_QUEUE], connection=redis_connection(), engine=engine, burst=True)


@pytest.fixture
def unbound():
    yield
    structlog.contextvars.clear_contextvars()


def test_the_job_of_a_submission_carries_its_request_id_and_user(client, auth, results_table, queue, capacity_on):
    item_id = _submit(client, auth, "Lovely staff.", "req-meta-1")

    [job] = _jobs(queue)
    assert list(job.args) == [[item_id]]
    assert job.meta[LOG_CONTEXT_KEY] == {"request_id": "req-meta-1", "user": "alice"}


def test_the_workers_lines_for_an_item_carry_the_request_job_item_and_user(
    client, auth, results_table, queue, capacity_on, engine, json_logs, unbound
):
    item_id = _submit(client, auth, "I love this, it works perfectly.", "req-flow-1")
    [job] = _jobs(queue)

    _work(engine)

    assert dynamodb.item_get(item_id=item_id)["status"] == "done"
    lines = json_logs.lines()
    [web] = [line for line in lines if line["event"] == "job enqueued"]
    assert (web["request_id"], web["job_id"], web["item_ids"], web["user"]) == (
        "req-flow-1",
        job.id,
        [item_id],
        "alice",
    )
    [item] = [line for line in lines if line["event"] == "item classified"]
    assert (item["request_id"], item["job_id"], item["item_id"], item["user"]) == (
        "req-flow-1",
        job.id,
        item_id,
        "alice",
    )
    assert item["item_ids"] == [item_id] and item["label_name"] in {"positive", "negative"}
    # RQ's own lines about the job (taken, done) carry the same ids.
    rq_lines = [line for line in lines if line["logger"] == "rq.worker" and line.get("job_id") == job.id]
    assert rq_lines and all(line["request_id"] == "req-flow-1" for line in rq_lines)
    assert any("Job OK" in line["event"] for line in rq_lines)
    # Nothing of the job is left bound once it is done.
    assert structlog.contextvars.get_contextvars() == {}


def test_a_micro_batch_names_each_items_own_request(client, auth, results_table, queue, capacity_on, engine, json_logs):
    first = _submit(client, auth, "Great value, very happy.", "req-mb-1")
    second = _submit(client, auth, "Terrible, it broke after a day.", "req-mb-2")
    first_job, second_job = _jobs(queue)

    _work(engine)  # the first job classifies both items; the second finds its item taken

    items = {line["item_id"]: line for line in json_logs.lines() if line["event"] == "item classified"}
    assert set(items) == {first, second}
    assert (items[first]["request_id"], items[first]["job_id"]) == ("req-mb-1", first_job.id)
    assert (items[second]["request_id"], items[second]["job_id"]) == ("req-mb-2", first_job.id)
    assert items[second]["origin_job_id"] == second_job.id
    assert "origin_job_id" not in items[first]


def test_a_batchs_jobs_and_worker_lines_carry_its_batch_id(
    client, auth, results_table, queue, capacity_on, engine, json_logs, settings
):
    settings.BATCH_ENQUEUE_CHUNK = 2
    response = client.post(
        "/api/v1/batches",
        {"texts": ["Superb.", "Awful.", "Fine."]},
        content_type="application/json",
        headers=auth | {"X-Request-ID": "req-batch-1"},
    )
    assert response.status_code == 202
    batch_id = response.json()["id"]

    jobs = _jobs(queue)
    assert len(jobs) == 2
    assert all(
        job.meta[LOG_CONTEXT_KEY] == {"request_id": "req-batch-1", "user": "alice", "batch_id": batch_id}
        for job in jobs
    )

    _work(engine)

    items = [line for line in json_logs.lines() if line["event"] == "item classified"]
    assert len(items) == 3
    assert all(
        (line["batch_id"], line["request_id"], line["user"]) == (batch_id, "req-batch-1", "alice") for line in items
    )


def test_a_group_committed_job_maps_each_item_to_its_own_request(results_table, queue, capacity_on):
    from dashboard import services

    count = 12
    barrier = threading.Barrier(count)
    made: dict[str, str] = {}
    lock = threading.Lock()

    def submit(n: int) -> None:
        with structlog.contextvars.bound_contextvars(request_id=f"req-group-{n}"):
            barrier.wait()
            item = services.submission_create(text=f"text {n}", submitted_by="load")
        with lock:
            made[item["id"]] = f"req-group-{n}"

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(made) == count
    seen = {}
    for job in _jobs(queue):
        context = job.meta[LOG_CONTEXT_KEY]
        assert context["user"] == "load"
        seen |= {item_id: log_context_request_id(context, item_id) for item_id in job.args[0]}
    assert seen == made
    assert services._request_ids == {}  # each request's entry is gone once it has its answer
