"""Micro-batching across queued jobs: gather the ids of other waiting classify jobs.

Like Ray Serve's `@serve.batch`, it has two knobs, the largest batch and the longest wait. It only
*reads* the queue: the items are taken by atomic conditional claims in DynamoDB, so an item is
classified once whoever gets there first, and the absorbed jobs later run as no-ops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, MutableMapping
from typing import Any

from rq.job import Job

from classifier.contracts import CLASSIFY_JOB, LOG_CONTEXT_KEY, log_context_request_id

# Where a waiting item came from, for the worker's log lines: its own job's id and its request id.
Origin = tuple[str, str | None]


def waiting_item_ids(
    queue: Any,
    *,
    limit: int,
    skip: Container[str] = frozenset(),
    origins: MutableMapping[str, Origin] | None = None,
) -> list[str]:
    """Item ids of the classify jobs at the head of `queue`, oldest first, at most `limit` ids, none in `skip`.

    With `origins`, each id returned is recorded there with its job's id and request id (from the
    jobs just read: no extra call)."""
    job_ids = queue.get_job_ids(0, max(limit, 1))  # the first `limit` jobs (RQ takes a length)
    if not job_ids:
        return []
    ids: list[str] = []
    for job in Job.fetch_many(job_ids, connection=queue.connection, serializer=queue.serializer):
        if job is None or job.func_name != CLASSIFY_JOB or not job.args:
            continue
        fresh = [item_id for item_id in map(str, job.args[0]) if item_id not in skip]
        ids.extend(fresh)
        if origins is not None:
            context = job.meta.get(LOG_CONTEXT_KEY) or {}
            origins.update((item_id, (job.id, log_context_request_id(context, item_id))) for item_id in fresh)
        if len(ids) >= limit:
            break
    return ids[:limit]


def collect(
    own_ids: list[str],
    *,
    queue: Any | None,
    max_size: int,
    max_wait_s: float,
    skip: Container[str] = frozenset(),
    origins: MutableMapping[str, Origin] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """The job's own ids first, then waiting ones, up to `max_size`, waiting at most `max_wait_s` for more.

    The wait is only for a batch that has company: when the first look finds no other job waiting,
    the job runs alone at once. A lone text would otherwise pay the whole wait for company that, with
    nothing queued behind it, rarely comes; under load the queue is never empty, so batches still fill.

    Waiting ids in `skip` (ones the caller knows are no longer queued) are left out, so they neither
    cost a claim attempt nor take a place in the batch. The job's own ids are always kept: its own
    claim decides them (a retried job may take back items it holds). `origins` is filled as in
    `waiting_item_ids`.
    """
    batch = list(dict.fromkeys(own_ids))
    if queue is None or len(batch) >= max_size:
        return batch
    deadline, first = clock() + max_wait_s, True
    while True:
        seen = set(batch)
        extra = [i for i in waiting_item_ids(queue, limit=max_size, skip=skip, origins=origins) if i not in seen]
        batch = [*batch, *dict.fromkeys(extra)][:max_size]
        if len(batch) >= max_size or clock() >= deadline or (first and not extra):
            return batch
        first = False
        sleep(min(0.001, max(deadline - clock(), 0)))
