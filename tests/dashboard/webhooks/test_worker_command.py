"""`manage.py webhooks_worker`: the real (forking) RQ worker reads the JSON jobs the inference worker queues."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from dashboard.webhooks.queue import items_finished_enqueue, webhooks_queue

pytestmark = pytest.mark.django_db


def test_the_worker_runs_a_queued_job_and_exits_when_the_queue_is_empty(results_table, redis_conn):
    items_finished_enqueue(item_ids=["not-stored"])  # nothing to make events of: no database write in the fork
    [job] = webhooks_queue().get_jobs()

    call_command("webhooks_worker", "--burst")

    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == 0
    assert webhooks_queue().count == 0
