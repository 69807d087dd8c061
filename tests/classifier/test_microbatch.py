"""Micro-batching across queued jobs, with real Redis, DynamoDB Local and worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq.job import Job

from classifier.microbatch import collect, waiting_item_ids
from dashboard.aws import dynamodb
from dashboard.queue import classify_enqueue

ROOT = Path(__file__).resolve().parents[2]


def test_collect_takes_own_ids_first_then_waiting_ones_up_to_the_limit(queue):
    for n in range(5):
        classify_enqueue(item_ids=[f"w{n}a", f"w{n}b"])
    assert waiting_item_ids(queue, limit=3) == ["w0a", "w0b", "w1a"]
    assert collect(["own", "w0a"], queue=queue, max_size=4, max_wait_s=0) == ["own", "w0a", "w0b", "w1a"]


def test_collect_records_where_each_waiting_id_came_from(queue):
    one = classify_enqueue(item_ids=["a1", "a2"], log_context={"request_id": "req-a", "user": "alice"})
    two = classify_enqueue(item_ids=["b1", "b2"], log_context={"item_request_ids": {"b1": "req-b1", "b2": "req-b2"}})
    three = classify_enqueue(item_ids=["c1"], log_context={})  # enqueued again by the reconciler: no request
    origins: dict = {}

    batch = collect(["own"], queue=queue, max_size=10, max_wait_s=0, origins=origins)

    assert batch == ["own", "a1", "a2", "b1", "b2", "c1"]
    assert origins == {
        "a1": (one, "req-a"),
        "a2": (one, "req-a"),
        "b1": (two, "req-b1"),
        "b2": (two, "req-b2"),
        "c1": (three, None),
    }


def test_collect_leaves_out_waiting_ids_known_taken_but_never_the_jobs_own(queue):
    for n in range(3):
        classify_enqueue(item_ids=[f"w{n}a", f"w{n}b"])
    taken = {"w0a", "w0b", "w1a", "own"}

    assert waiting_item_ids(queue, limit=3, skip=taken) == ["w1b", "w2a", "w2b"]
    assert collect(["own"], queue=queue, max_size=3, max_wait_s=0, skip=taken) == ["own", "w1b", "w2a"]


def test_collect_with_company_waits_at_most_max_wait_for_more_work(queue):
    classify_enqueue(item_ids=["early"])  # company at the first look: worth waiting for more
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        if len(sleeps) == 3:
            classify_enqueue(item_ids=["late"])  # work arrives while the batch waits

    batch = collect(["own"], queue=queue, max_size=10, max_wait_s=0.005, clock=lambda: now[0], sleep=sleep)

    assert batch == ["own", "early", "late"]
    assert now[0] == pytest.approx(0.005)


def test_a_lone_job_does_not_wait_for_company(queue):
    def no_sleep(seconds: float) -> None:
        raise AssertionError("a job with nothing queued behind it must not wait")

    assert collect(["own"], queue=queue, max_size=10, max_wait_s=1.0, sleep=no_sleep) == ["own"]
    classify_enqueue(item_ids=["own"])  # its own job, still in the queue, is no company
    assert collect(["own"], queue=queue, max_size=10, max_wait_s=1.0, sleep=no_sleep) == ["own"]
    classify_enqueue(item_ids=["taken"])  # nor is a job whose items are known taken
    assert collect(["own"], queue=queue, max_size=10, max_wait_s=1.0, skip={"taken"}, sleep=no_sleep) == ["own"]


def test_a_full_batch_does_not_wait(queue):
    def no_sleep(seconds: float) -> None:
        raise AssertionError("a full batch must not wait")

    assert collect(["a", "b"], queue=queue, max_size=2, max_wait_s=1.0, sleep=no_sleep) == ["a", "b"]


@pytest.mark.django_db
@pytest.mark.slow
def test_200_concurrently_queued_items_are_each_classified_exactly_once(results_table, queue, demo_model_dir):
    ids = [f"mb-{n:03d}" for n in range(200)]
    texts = ["I love it, wonderful!", "Terrible, I hate it.", "Great value and lovely staff."]
    for n, item_id in enumerate(ids):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=texts[n % 3] * (1 + n % 4)))
        classify_enqueue(item_ids=[item_id])
    env = os.environ | {
        "DYNAMODB_TABLE": results_table,
        "CLASSIFIER_MODEL": str(demo_model_dir),
        "MICROBATCH_MAX_SIZE": "32",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "inference_worker", "--burst", "--name", f"mb-{n}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(3)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err.decode()[-2000:]

    items = dynamodb.items_get_many(item_ids=ids)
    assert len(items) == 200
    assert {item["status"] for item in items.values()} == {"done"}
    assert [item_id for item_id, item in items.items() if item["result_writes"] != 1] == []

    job_ids = queue.finished_job_registry.get_job_ids()
    results = [
        job.return_value() for job in Job.fetch_many(job_ids, connection=queue.connection, serializer=queue.serializer)
    ]
    assert len(results) == 200
    assert sum(result["claimed"] for result in results) == 200
    assert max(result["claimed"] for result in results) > 1, "no job classified more than its own item"
    assert sum(1 for result in results if result["claimed"] == 0) > 0, "no job was absorbed by a batch"
