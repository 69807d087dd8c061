"""A worker SIGKILLed in the middle of a batch: RQ retries its job, our reconciler takes its items back, and they
end `done`, each written once."""

from __future__ import annotations

import signal
import time

import pytest
from rq.registry import StartedJobRegistry

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.csv_upload import BatchRow
from tests.faults.conftest import wait_finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Long texts make each micro-batch take long enough on a CPU to be killed in the middle of one.
FILLER = " ".join(["The service was slow but the food was wonderful and the staff were kind."] * 25)


def test_a_worker_killed_mid_batch_loses_nothing(workers, results_table, queue, user):
    batch = services.batch_create(
        rows=[BatchRow(text=f"{i}: {FILLER}") for i in range(300)], source="api", submitted_by=user
    )
    ids = [item["id"] for item in dynamodb.batch_items_iter(batch_id=batch.id)]
    assert len(ids) == 300
    first = workers.start("doomed", MICROBATCH_MAX_SIZE="64")

    deadline = time.monotonic() + 180
    while not list(dynamodb.items_with_status(status="running", limit=1)):
        assert time.monotonic() < deadline, "the worker never started a batch"
        assert first.poll() is None, workers.log(first)
        time.sleep(0.05)
    [killed_job] = StartedJobRegistry(queue=queue).get_job_ids()
    first.send_signal(signal.SIGKILL)
    first.wait()
    stranded = [item["id"] for item in dynamodb.items_get_many(item_ids=ids).values() if item["status"] == "running"]
    assert stranded, "the kill landed between batches; nothing was in flight"

    # RQ's own abandoned-job handling, run as its maintenance would once the job's time is up: the
    # job goes back to the queue with one retry fewer (our Retry), rather than to the failed registry.
    job = queue.fetch_job(killed_job)
    retries = job.retries_left
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 10 * 86400)
    job.refresh()
    assert job.get_status() == "queued" and job.retries_left == retries - 1
    assert killed_job in queue.job_ids

    second = workers.start("replacement", MICROBATCH_MAX_SIZE="64")
    items = wait_finished(ids, timeout=200, alive=[second])

    assert {item["status"] for item in items.values()} == {"done"}
    assert all(item["result_writes"] == 1 for item in items.values()), "a result was written twice"
    # Its own items went back to the retried job (same id: it may take back what it held). The ones it had
    # taken from the next job for its micro-batch, which that job skipped as held, our start-up reconcile
    # took back and enqueued again: without that they would wait out the lease (job timeout + 2 min).
    absorbed = [item_id for item_id in stranded if item_id not in set(job.args[0])]
    assert absorbed, "the killed batch held only its own job's ids (64 per batch, 32 per job)"
    assert f"took back {len(absorbed)} running" in workers.log(second), workers.log(second)[-3000:]
    assert all(items[item_id].get("recoveries") == 1 for item_id in absorbed)
