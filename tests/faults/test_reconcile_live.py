"""The reconciler running beside a live worker never takes an item from it (it runs every 30 s in production)."""

from __future__ import annotations

import pytest

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.csv_upload import BatchRow
from dashboard.reconcile import reconcile
from tests.faults.conftest import wait_finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_reconciling_during_micro_batches_takes_nothing_back(workers, results_table, queue, user):
    batch = services.batch_create(
        rows=[BatchRow(text=f"{n}: the food was good but the service was slow") for n in range(400)],
        source="api",
        submitted_by=user,
    )
    ids = [item["id"] for item in dynamodb.batch_items_iter(batch_id=batch.id)]
    worker = workers.start("busy", MICROBATCH_MAX_SIZE="64")
    passes, saw_running = 0, False
    while any(item["status"] in {"queued", "running"} for item in dynamodb.items_get_many(item_ids=ids).values()):
        saw_running |= bool(list(dynamodb.items_with_status(status="running", limit=1)))
        report = reconcile(queued_after=60)
        assert report.released == [] and report.failed == [], report.summary()
        passes += 1
        assert worker.poll() is None, workers.log(worker)
    items = wait_finished(ids, timeout=10, alive=[worker])
    assert saw_running and passes >= 3
    assert {item["status"] for item in items.values()} == {"done"}
    assert all(item["result_writes"] == 1 and not item.get("recoveries") for item in items.values())
