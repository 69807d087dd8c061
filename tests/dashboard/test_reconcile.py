"""The reconciler against the real DynamoDB Local and Redis: lost jobs, dead holders, leases, give-ups."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from dashboard.aws import dynamodb
from dashboard.reconcile import reconcile

pytestmark = pytest.mark.django_db

OLD = "2020-01-01T00:00:00.000000Z"


def _queued(item_id: str, *, created_at: str = OLD) -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}", created_at=created_at))


def _carried(queue) -> list[str]:
    return sorted(item_id for job in queue.get_jobs() for item_id in job.args[0])


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _fake_started_job(queue, *, item_ids: list[str], worker_name: str, pid: int, hostname: str) -> str:
    """An RQ job marked started by a worker whose registry entry says `hostname`/`pid`."""
    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    job = queue.enqueue("classifier.jobs.classify_items", item_ids)
    queue.remove(job.id)
    job.set_status(JobStatus.STARTED)
    job.worker_name = worker_name
    job.save()
    registry = StartedJobRegistry(queue=queue)
    queue.connection.zadd(registry.key, {f"{job.id}:execution-1": time.time() + 600})  # as a worker's execution
    queue.connection.hset(f"rq:worker:{worker_name}", mapping={"hostname": hostname, "pid": str(pid)})
    return job.id


def _claim(item_id: str, job_id: str) -> None:
    assert dynamodb.item_claim(item_id=item_id, claimed_by=f"{socket.gethostname()}:1:{job_id}", job_id=job_id)


def test_queued_items_no_job_carries_are_enqueued_again(results_table, queue):
    _queued("lost-1")
    _queued("lost-2")
    _queued("carried")
    queue.enqueue("classifier.jobs.classify_items", ["carried"])

    report = reconcile(queued_after=30)

    assert sorted(report.requeued) == ["lost-1", "lost-2"]
    assert _carried(queue) == ["carried", "lost-1", "lost-2"]
    assert dynamodb.item_get(item_id="lost-1")["status"] == "queued"


def test_recent_queued_items_are_left_alone(results_table, queue):
    _queued("fresh", created_at=dynamodb.now_iso())  # its enqueue may be a moment behind its write

    assert reconcile(queued_after=60).requeued == []
    assert queue.count == 0


def test_a_second_run_finds_nothing_to_do(results_table, queue):
    _queued("lost")
    reconcile(queued_after=0)

    report = reconcile(queued_after=0)

    assert not report.changed
    assert _carried(queue) == ["lost"]


def test_running_items_of_a_dead_local_worker_are_taken_back(results_table, queue):
    _queued("held")
    job_id = _fake_started_job(
        queue, item_ids=["held"], worker_name="dead-worker", pid=_dead_pid(), hostname=socket.gethostname()
    )
    _claim("held", job_id)

    report = reconcile(queued_after=0)

    assert report.released == ["held"]
    item = dynamodb.item_get(item_id="held")
    assert item["status"] == "queued"
    assert item["recoveries"] == 1
    assert "claimed_by" not in item
    assert "held" in _carried(queue)


def test_running_items_of_a_live_worker_are_left_alone(results_table, queue):
    import os

    _queued("busy")
    job_id = _fake_started_job(
        queue, item_ids=["busy"], worker_name="live-worker", pid=os.getpid(), hostname=socket.gethostname()
    )
    _claim("busy", job_id)

    report = reconcile(queued_after=0)

    assert report.released == []
    assert dynamodb.item_get(item_id="busy")["status"] == "running"


def test_running_items_whose_job_redis_lost_are_taken_back(results_table, queue, redis_conn):
    _queued("orphan")
    _claim("orphan", "job-that-redis-forgot")

    report = reconcile(queued_after=0)

    assert report.released == ["orphan"]
    assert dynamodb.item_get(item_id="orphan")["status"] == "queued"


def test_the_lease_takes_back_even_a_seemingly_live_holder(results_table, queue):
    import os

    _queued("slow")
    job_id = _fake_started_job(
        queue, item_ids=["slow"], worker_name="stuck-worker", pid=os.getpid(), hostname=socket.gethostname()
    )
    _claim("slow", job_id)
    later = datetime.now(UTC) + timedelta(seconds=700)

    report = reconcile(queued_after=0, lease=600, now=later)

    assert report.released == ["slow"]


def test_after_the_last_recovery_the_item_fails_with_the_reason(results_table, queue):
    _queued("killer")
    for _ in range(3):
        _claim("killer", "gone-job")
        reconcile(queued_after=0, max_recoveries=3)
        assert dynamodb.item_get(item_id="killer")["status"] == "queued"
    _claim("killer", "gone-job")

    report = reconcile(queued_after=0, max_recoveries=3)

    assert report.failed == ["killer"]
    item = dynamodb.item_get(item_id="killer")
    assert item["status"] == "failed"
    assert "interrupted 4 times" in item["error"]
    assert item["finished_at"]
    from dashboard.webhooks.queue import webhooks_queue

    [job] = webhooks_queue().get_jobs()  # its item.failed event, made on the web tier
    assert job.args == [["killer"]]


def test_finished_items_are_never_touched(results_table, queue):
    _queued("done-one")
    _claim("done-one", "finished-job")
    dynamodb.item_finish(
        item_id="done-one",
        status="done",
        claimed_by=f"{socket.gethostname()}:1:finished-job",
        label=1,
        label_name="positive",
        confidence=0.9,
        model="m",
    )
    before = dynamodb.item_get(item_id="done-one")

    report = reconcile(queued_after=0, lease=0)

    assert not report.changed
    assert dynamodb.item_get(item_id="done-one") == before
    assert queue.count == 0


def test_a_retried_job_takes_back_its_own_running_items_but_no_one_elses(results_table):
    _queued("mine")
    assert dynamodb.item_claim(item_id="mine", claimed_by="host:1:job-a", job_id="job-a")

    assert dynamodb.item_claim(item_id="mine", claimed_by="host:2:job-b", job_id="job-b") is None
    retaken = dynamodb.item_claim(item_id="mine", claimed_by="host:3:job-a", job_id="job-a")

    assert retaken["claimed_by"] == "host:3:job-a"


def test_a_release_never_undoes_a_result_written_meanwhile(results_table):
    _queued("raced")
    dynamodb.item_claim(item_id="raced", claimed_by="h:1:j", job_id="j")
    dynamodb.item_finish(item_id="raced", status="done", claimed_by="h:1:j", label=0, label_name="negative")

    assert dynamodb.item_release(item_id="raced", claimed_by="h:1:j") is False
    assert dynamodb.item_get(item_id="raced")["status"] == "done"


def test_the_command_prints_what_it_did(results_table, queue, capsys):
    _queued("lost")

    call_command("reconcile", "--queued-after", "0")

    out = capsys.readouterr().out
    assert "re-enqueued 1 queued" in out
    assert "re-enqueued: lost" in out


def test_only_one_run_at_a_time(results_table, queue, redis_conn):
    from dashboard.reconcile import LOCK_KEY

    redis_conn.set(LOCK_KEY, "someone-else")
    _queued("lost")

    assert reconcile(queued_after=0).skipped
    assert queue.count == 0


def test_power_tick_runs_the_reconciler(results_table, queue, monkeypatch, capsys, settings):
    from dashboard import power

    monkeypatch.setattr(power, "power_tick", lambda **_: None)  # the fleet is another test's business
    monkeypatch.setattr(power, "tick_heartbeat", lambda: None)
    settings.RECONCILE_QUEUED_AFTER = 0
    _queued("lost-in-redis")

    call_command("power_tick", "--once")

    assert "re-enqueued 1 queued" in capsys.readouterr().out
    assert _carried(queue) == ["lost-in-redis"]


def test_a_worker_start_runs_the_reconciler_without_powering_anything(results_table, queue, monkeypatch, settings):
    from classifier.worker import reconcile_at_start
    from dashboard import power

    settings.RECONCILE_QUEUED_AFTER = 0
    monkeypatch.setattr(power, "capacity_ensure", lambda **_: pytest.fail("a worker must not start instances"))
    _queued("lost-in-redis")

    reconcile_at_start()

    assert _carried(queue) == ["lost-in-redis"]


def test_items_a_retried_job_took_for_a_micro_batch_are_taken_back_its_own_are_left_to_it(results_table, queue):
    from classifier.contracts import STASH_KEY

    for item_id in ("own", "stashed", "absorbed"):
        _queued(item_id, created_at=dynamodb.now_iso())
    # Its worker died mid-batch, and RQ put the job back in the queue for a retry (status queued).
    job = queue.enqueue("classifier.jobs.classify_items", ["own"])
    job.meta[STASH_KEY] = [{"item_id": "stashed", "status": "done", "claimed_by": "x", "label": 1}]
    job.save_meta()
    for item_id in ("own", "stashed", "absorbed"):  # "absorbed" is another job's id, batched with these
        _claim(item_id, job.id)

    report = reconcile(queued_after=60)

    assert report.released == ["absorbed"]
    assert dynamodb.item_get(item_id="absorbed")["status"] == "queued"
    assert "absorbed" in _carried(queue)  # enqueued again at once
    assert {dynamodb.item_get(item_id=i)["status"] for i in ("own", "stashed")} == {"running"}  # the retry's


def test_items_a_running_job_claimed_are_left_to_it_unless_an_earlier_run_claimed_them(results_table, queue):
    from rq.job import Job

    for item_id in ("in-the-last-run", "own-id", "in-this-run"):
        _queued(item_id, created_at=dynamodb.now_iso())
    job_id = _fake_started_job(queue, item_ids=["own-id"], worker_name="alive", pid=4242, hostname="gpu-2")
    for item_id in ("in-the-last-run", "own-id"):  # the previous run, whose worker died
        _claim(item_id, job_id)
    time.sleep(0.01)
    job = Job.fetch(job_id, connection=queue.connection)
    job.started_at = datetime.now(UTC)  # the retried run began after those claims...
    job.save()
    time.sleep(0.01)
    _claim("in-this-run", job_id)  # ...and absorbed this one itself

    report = reconcile(queued_after=60)

    # The current run takes back its own id and keeps what it claimed; the item the previous run took
    # from another job for its micro-batch is nobody's now.
    assert report.released == ["in-the-last-run"]
    assert {dynamodb.item_get(item_id=i)["status"] for i in ("in-this-run", "own-id")} == {"running"}


def test_a_run_that_outlived_its_lock_never_releases_the_lock_another_run_took(
    results_table, queue, redis_conn, monkeypatch
):
    import dashboard.reconcile as reconcile_module

    monkeypatch.setattr(reconcile_module, "LOCK_SECONDS", 0.2)  # this run's lock expires while it works
    other = redis_conn.lock(reconcile_module.LOCK_KEY, timeout=60)
    connection = queue.connection
    real = connection.execute_command
    taken: list[bool] = []

    def expire_then_let_another_take_it(*args, **kwargs):
        # Just before the run lets go of its lock (its first write to the key after taking it), the lock
        # expires and another run takes it: the moment a read-then-delete release gets wrong.
        writes = {"DEL", "UNLINK", "EVAL", "EVALSHA"}
        if not taken and str(args[0]).upper() in writes and reconcile_module.LOCK_KEY in args:
            deadline = time.monotonic() + 10
            while redis_conn.exists(reconcile_module.LOCK_KEY) and time.monotonic() < deadline:
                time.sleep(0.02)
            taken.append(bool(other.acquire(blocking=False)))
        return real(*args, **kwargs)

    monkeypatch.setattr(connection, "execute_command", expire_then_let_another_take_it)
    _queued("lost")

    report = reconcile(queued_after=0)

    assert not report.skipped and report.requeued == ["lost"]
    assert taken == [True]
    assert other.owned(), "the expired run deleted the lock another run holds"
    monkeypatch.undo()
    assert reconcile(queued_after=0).skipped
    other.release()
