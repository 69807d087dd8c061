"""What the web puts on the inference queue: one job per group of items, its texts in its meta when short."""

from __future__ import annotations

import pytest
from rq.job import Job

from classifier.contracts import TEXTS_KEY, TEXTS_MAX_CHARS
from dashboard.queue import classify_enqueue

pytestmark = pytest.mark.django_db


def test_a_job_carries_its_texts_only_when_it_has_all_of_them_and_they_are_short(queue):
    short = classify_enqueue(item_ids=["a", "b"], texts={"a": "one", "b": "two", "c": "not this job's"})
    missing = classify_enqueue(item_ids=["a", "b"], texts={"a": "one"})
    long = classify_enqueue(item_ids=["a", "b"], texts={"a": "x" * TEXTS_MAX_CHARS, "b": "y"})
    plain = classify_enqueue(item_ids=["a"])

    meta = {
        job_id: Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).meta
        for job_id in (short, missing, long, plain)
    }
    assert meta[short][TEXTS_KEY] == {"a": "one", "b": "two"}
    assert [TEXTS_KEY in meta[job_id] for job_id in (missing, long, plain)] == [False, False, False]


def test_a_submissions_job_brings_its_text(client, auth, results_table, queue, capacity_on):
    response = client.post(
        "/api/v1/submissions", {"text": "Lovely staff."}, content_type="application/json", headers=auth
    )
    item_id = response.json()["id"]

    [job_id] = queue.get_job_ids()
    assert Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).meta[TEXTS_KEY] == {
        item_id: "Lovely staff."
    }
