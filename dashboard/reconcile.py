"""The reconciler: every accepted item ends `done` or `failed`, whatever happened to Redis or a worker.

DynamoDB is the record of what was accepted; Redis only carries the work. The two can disagree:

- Redis restarted without its data (or a job expired): items stay `queued` in DynamoDB with no RQ
  job carrying them. An item queued longer than RECONCILE_QUEUED_AFTER whose id no job in the
  queue, the started registry or the scheduled registry mentions is enqueued again.
- A worker died mid-batch (SIGKILL, OOM, the instance stopped under it): its items stay `running`.
  An item is taken back when the RQ job that claimed it (`claim_job`) is gone or has ended without
  writing it, when that job's worker is gone (its RQ worker key expired, or, on this host, its
  process is dead), or in any case once it has been running longer than RECONCILE_RUNNING_LEASE.
  Taking back is a conditional update (`running` and still held by the same claim), so a result
  written meanwhile is never undone, and it counts a recovery: after RECONCILE_MAX_RECOVERIES the
  item is marked `failed` with the reason instead, so a text that kills its worker cannot loop forever.

`done` and `failed` items are never touched. A re-enqueued item that meanwhile got classified is a
no-op for its new job (claims are conditional), so running the reconciler twice, or in two processes
at once, is harmless; a Redis lock still keeps concurrent runs from doing the same reads.

It runs in `manage.py power_tick` every RECONCILE_EVERY_TICKS checks, once when a worker starts
(`classifier/worker.py`), and on demand: `manage.py reconcile`.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from redis.exceptions import LockError
from redis.lock import Lock

from classifier.contracts import CLASSIFY_JOB, STASH_KEY, timestamp_parse
from dashboard.aws import dynamodb
from dashboard.compute.local import process_alive
from dashboard.queue import classify_enqueue, inference_queue

log = logging.getLogger(__name__)

LOCK_KEY = "reconcile:lock"
LOCK_SECONDS = 120.0
# Items read per status per run: enough for any backlog one run should fix; the next run takes the rest.
SCAN_LIMIT = 5000
_ALIVE_JOB_STATES = {"queued", "scheduled", "deferred", "started"}


@dataclass
class ReconcileReport:
    requeued: list[str] = field(default_factory=list)  # queued items no job carried
    released: list[str] = field(default_factory=list)  # running items taken back and queued again
    failed: list[str] = field(default_factory=list)  # running items out of recoveries
    enqueue_error: str = ""
    skipped: bool = False  # another reconciler holds the lock

    @property
    def changed(self) -> bool:
        return bool(self.requeued or self.released or self.failed)

    def summary(self) -> str:
        if self.skipped:
            return "reconcile: another run holds the lock"
        text = (
            f"reconcile: re-enqueued {len(self.requeued)} queued, took back {len(self.released)} running, "
            f"failed {len(self.failed)} out of retries"
        )
        return text + (f"; enqueue failed: {self.enqueue_error}" if self.enqueue_error else "")


def reconcile(
    *,
    now: datetime | None = None,
    queued_after: float | None = None,
    lease: float | None = None,
    max_recoveries: int | None = None,
    ensure_capacity: bool = True,
) -> ReconcileReport:
    """One pass over queued and running items. Raises StoreUnavailable/RedisError if either is down.

    `ensure_capacity=False` on a worker: it is the capacity, and its role has no EC2 permissions.
    """
    now = now or datetime.now(UTC)
    queued_after = settings.RECONCILE_QUEUED_AFTER if queued_after is None else queued_after
    lease = settings.RECONCILE_RUNNING_LEASE if lease is None else lease
    max_recoveries = settings.RECONCILE_MAX_RECOVERIES if max_recoveries is None else max_recoveries
    queue = inference_queue()
    connection = queue.connection
    report = ReconcileReport()
    lock = connection.lock(LOCK_KEY, timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        report.skipped = True
        return report
    try:
        # Jobs first, items second: a job that moves from the queue to a worker between our reads
        # is still seen in one of the two places, and an item finished meanwhile is a harmless no-op.
        stale = [
            item
            for item in dynamodb.items_with_status(status="queued", limit=SCAN_LIMIT)
            if _age(item.get("created_at"), now) >= queued_after
        ]
        if stale:
            carried = _carried_ids(queue)
            report.requeued = [item["id"] for item in stale if item["id"] not in carried]
        for item in dynamodb.items_with_status(status="running", limit=SCAN_LIMIT):
            reason = _orphan_reason(item, now=now, lease=lease, connection=connection, grace=queued_after)
            if reason is None:
                continue
            _take_back(item, reason=reason, max_recoveries=max_recoveries, report=report)
        _enqueue(report.requeued + report.released, report=report, ensure_capacity=ensure_capacity)
        if report.failed:
            from dashboard.webhooks.queue import items_finished_enqueue  # their item.failed events; never raises

            items_finished_enqueue(item_ids=report.failed)
    finally:
        _release(lock)
    if report.changed:
        log.warning(report.summary())
    return report


def _release(lock: Lock) -> None:
    """Release by token: a run that outlived its lock must not delete the one another run took since."""
    try:
        lock.release()
    except LockError:  # LockNotOwnedError: it expired, and may be another run's now
        log.warning("reconcile: the lock expired before this run finished; left to its new holder")


def _age(timestamp: str | None, now: datetime) -> float:
    then = timestamp_parse(timestamp)
    if then is None:
        return float("inf")
    return (now - then).total_seconds()


def _carried_ids(queue: Any) -> set[str]:
    """Item ids some RQ job will still look at: waiting, scheduled for a retry, or running."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    job_ids = list(queue.get_job_ids())
    job_ids += StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
    job_ids += ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False)
    carried: set[str] = set()
    for start in range(0, len(job_ids), 500):
        jobs = Job.fetch_many(job_ids[start : start + 500], connection=queue.connection, serializer=queue.serializer)
        for job in jobs:
            if job is None or job.func_name != CLASSIFY_JOB or not job.args:
                continue
            # A job whose worker died still sits in the started registry until RQ notices (job timeout +
            # 60 s): the items it had not claimed yet are carried by nothing.
            if job.worker_name and not _worker_alive(job.worker_name, connection=queue.connection):
                continue
            carried.update(str(item_id) for item_id in job.args[0])
    return carried


def _claim_job_id(item: dict[str, Any]) -> str | None:
    if item.get("claim_job"):
        return item["claim_job"]
    holder = item.get("claimed_by") or ""
    parts = holder.split(":")  # host:pid:job-id, written by classifier.jobs._holder before claim_job existed
    return parts[2] if len(parts) == 3 and parts[2] != "direct" else None


def _orphan_reason(item: dict[str, Any], *, now: datetime, lease: float, connection: Any, grace: float) -> str | None:
    """Why this running item's holder will never finish it, or None while it may."""
    age = _age(item.get("started_at"), now)
    if age >= lease:
        return f"it was running for {age:.0f} s, longer than the {lease:.0f} s lease"
    job_id = _claim_job_id(item)
    if job_id is None:
        return f"its holder ({item.get('claimed_by')}) is not an RQ job" if age >= grace else None
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=connection, serializer=inference_queue().serializer)
    except NoSuchJobError:
        return f"its job {job_id} no longer exists (Redis lost it)"
    status = str(getattr(job.get_status(refresh=False), "value", job.get_status(refresh=False)))
    if status not in _ALIVE_JOB_STATES:
        return f"its job {job_id} ended ({status}) without writing a result"
    if status == "started" and job.worker_name and not _worker_alive(job.worker_name, connection=connection):
        return f"the worker {job.worker_name} running its job {job_id} is gone"
    if item["id"] in _retaken_by(job):
        return None  # the job's next run, or this one, takes it back itself
    # A run that claimed it for a micro-batch from another job's ids is over (RQ retried the job after
    # its worker died); that other job skipped it as held, and the job's next run will not look at it.
    if status != "started":
        return f"its job {job_id} is waiting to run again, and that run would not take it back"
    if not _held_by_run(item, job):
        return f"its job {job_id} is running again, in another process, and will not take it back"
    return None


def _held_by_run(item: dict[str, Any], job: Any) -> bool:
    """Whether the job's current run claimed the item: its claim is no older than the run.

    By time, not by pid: a forking worker runs each job in a child with a pid of its own. An earlier run
    ended before RQ re-queued the job (after its timeout), minutes before the current run began.
    """
    started = job.started_at
    if started is None:
        return True  # not known: leave it to the lease
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    claimed = _age(item.get("started_at"), started)  # seconds from the claim to the run's start
    return claimed <= 0


def _retaken_by(job: Any) -> set[str]:
    """The item ids a job's next run claims back when it finds them running under its claim."""

    ids = {str(item_id) for item_id in (job.args[0] if job.args else [])}
    return ids | {str(record.get("item_id")) for record in job.meta.get(STASH_KEY) or []}


def _worker_alive(worker_name: str, *, connection: Any) -> bool:
    """False when RQ has forgotten the worker, or when it ran on this host and its process is dead."""
    from rq.worker import Worker

    data = connection.hgetall(Worker.redis_worker_namespace_prefix + worker_name)
    if not data:
        return False
    fields = {key.decode() if isinstance(key, bytes) else key: value for key, value in data.items()}
    hostname = fields.get("hostname", b"")
    hostname = hostname.decode() if isinstance(hostname, bytes) else hostname
    pid = fields.get("pid")
    if hostname != socket.gethostname() or not pid:
        return True  # another host: its key expires after the job timeout if it died; the lease covers the rest
    return process_alive(int(pid))


def _take_back(item: dict[str, Any], *, reason: str, max_recoveries: int, report: ReconcileReport) -> None:
    holder = item.get("claimed_by") or ""
    recoveries = int(item.get("recoveries") or 0)
    if recoveries >= max_recoveries:
        error = (
            f"Classification was interrupted {recoveries + 1} times and is not retried again; "
            f"last time {reason}. Submit the text again, or ask an operator to check the workers."
        )
        if dynamodb.item_fail_abandoned(item_id=item["id"], claimed_by=holder, error=error):
            report.failed.append(item["id"])
        return
    if dynamodb.item_release(item_id=item["id"], claimed_by=holder):
        log.warning("took back item %s: %s", item["id"], reason)
        report.released.append(item["id"])


def _enqueue(item_ids: list[str], *, report: ReconcileReport, ensure_capacity: bool) -> None:
    from dashboard.exceptions import QueueUnavailable

    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return
    try:
        for start in range(0, len(ids), settings.BATCH_ENQUEUE_CHUNK):
            classify_enqueue(item_ids=ids[start : start + settings.BATCH_ENQUEUE_CHUNK])
    except QueueUnavailable as error:
        # The items stay queued in DynamoDB; the next run enqueues them once Redis answers.
        report.enqueue_error = str(error)
        return
    if not ensure_capacity:
        return
    from dashboard.power import capacity_ensure  # never raises

    capacity_ensure(trigger="reconcile")
