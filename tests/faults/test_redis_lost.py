"""Redis restarted without its data while items were queued and running: the reconciler recovers them all."""

from __future__ import annotations

import signal

import pytest

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.devservices import redis_start
from dashboard.queue import inference_queue
from dashboard.reconcile import reconcile
from tests.faults.conftest import wait_finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def own_redis(settings, tmp_path):
    """A redis-server of this test's own (no persistence), so it can be killed and restarted empty."""
    started = [redis_start(log_dir=tmp_path)]
    settings.RQ_QUEUES = {name: config | {"URL": started[0].url} for name, config in settings.RQ_QUEUES.items()}
    settings.REDIS_URL = started[0].url

    def restart_empty():
        old = started[-1]
        old.process.send_signal(signal.SIGKILL)
        old.process.wait()
        started.append(redis_start(port=old.extra["port"], log_dir=tmp_path))
        return started[-1]

    yield restart_empty
    for service in started:
        service.stop()


def test_items_redis_forgot_are_enqueued_again_and_finish(workers, results_table, own_redis, settings):
    items = [services.submission_create(text=f"Wonderful product number {i}", submitted_by="alice") for i in range(20)]
    ids = [item["id"] for item in items]
    held = ids[0]
    assert dynamodb.item_claim(item_id=held, claimed_by="gone-host:1:lost-job", job_id="lost-job")
    assert inference_queue().count == 20

    redis = own_redis()

    assert inference_queue().count == 0  # the jobs are gone; DynamoDB still says queued/running
    report = reconcile(queued_after=0)
    assert sorted(report.requeued) == sorted(ids[1:])
    assert report.released == [held]

    worker = workers.start("after-redis-loss", REDIS_URL=redis.url)
    finished = wait_finished(ids, timeout=240, alive=[worker])

    assert {item["status"] for item in finished.values()} == {"done"}
    assert all(item["result_writes"] == 1 for item in finished.values())
