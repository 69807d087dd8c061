"""RQ job functions. Thin: claim items in DynamoDB, run the warm engine, write outcomes back.

Jobs take ids (JSON-serialisable) and are enqueued by dotted path from the web process.
This module runs inside the inference worker, where Django is set up for the table adapter.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from classifier.contracts import STASH_KEY
from classifier.postprocess import probabilities_named
from dashboard.aws import dynamodb
from dashboard.exceptions import StoreUnavailable

log = logging.getLogger(__name__)

_engine: Any = None


def engine_set(engine: Any) -> None:
    """Install the engine the worker loaded at start-up, so no job pays for a model load."""
    global _engine
    _engine = engine


def engine_get() -> Any:
    global _engine
    from django.conf import settings

    if settings.CLASSIFIER_BACKEND == "sagemaker":  # our endpoint classifies; see classifier/sagemaker_backend.py
        from classifier.sagemaker_backend import SageMakerEngine, sagemaker_engine

        # The one the worker installed at start (or a test, with its own clock), if it is for this endpoint.
        if isinstance(_engine, SageMakerEngine) and _engine.endpoint == settings.SAGEMAKER_CLASSIFIER_ENDPOINT:
            return _engine
        return sagemaker_engine()
    if _engine is None:
        # Only reached under a plain `rqworker`; `manage.py inference_worker` loads before work starts.
        from classifier.engine import load_engine

        _engine = load_engine(settings.CLASSIFIER_MODEL)
    return _engine


def _holder() -> str:
    from rq import get_current_job

    job = get_current_job()
    return f"{socket.gethostname()}:{os.getpid()}:{job.id if job else 'direct'}"


def _current_queue() -> Any:
    from rq import get_current_job
    from rq.queue import Queue

    job = get_current_job()
    if job is None or not job.origin:
        return None
    return Queue(job.origin, connection=job.connection, serializer=job.serializer)


def classify_items(item_ids: list[str]) -> dict[str, int]:
    """Classify the queued items among `item_ids`, plus other waiting ones (micro-batching).

    Claims are atomic conditional updates, so each item is classified once, by whichever job claims
    it first; a job whose items were all taken by an earlier batch does nothing.
    """
    from django.conf import settings

    from classifier.microbatch import collect

    engine = engine_get()
    holder = _holder()
    job = _job()
    job_id = job.id if job is not None else None
    _retry_pause(job)
    kept = _stashed_write(job, holder=holder)
    candidates = collect(
        item_ids,
        queue=_current_queue(),
        max_size=settings.MICROBATCH_MAX_SIZE,
        max_wait_s=settings.MICROBATCH_MAX_WAIT_MS / 1000,
        skip=_decided,
    )
    claimed = dynamodb.items_claim_many(item_ids=candidates, claimed_by=holder, job_id=job_id)
    _decided_add(candidates)
    if not claimed:
        return {"claimed": kept, "done": kept, "failed": 0}
    outcomes = engine.predict_safe([item["text"] for item in claimed])
    if len(outcomes) != len(claimed):
        raise RuntimeError(f"engine returned {len(outcomes)} outcomes for {len(claimed)} texts")
    records = [
        _record(item, outcome, holder=holder, model=engine.model_name, id2label=engine.id2label)
        for item, outcome in zip(claimed, outcomes, strict=True)
    ]
    written, lost = _finish_with_backoff(records, job=job)
    if lost:
        log.warning("items %s were taken from this worker before their results were written", lost)
    _webhooks_notify([record["item_id"] for record in records if record["item_id"] not in lost])
    failed = sum(1 for record in records if record["status"] == "failed" and record["item_id"] not in lost)
    return {"claimed": len(claimed), "done": written - failed, "failed": failed}


def _webhooks_notify(item_ids: list[str]) -> None:
    """One cheap enqueue on the `webhooks` queue; the web tier's worker makes the events and sends them."""
    from dashboard.webhooks.queue import items_finished_enqueue  # never raises

    items_finished_enqueue(item_ids=item_ids)


# Ids this process has already tried to claim: it took them, or found them taken or gone. A batch
# takes the ids of jobs still waiting in the queue, so without this every job absorbed by an earlier
# batch looked its neighbours' items up again: ten lookups in DynamoDB per item classified, under
# bench/load.py (docs/benchmarks.md). Skipping them as *extras* is safe: each id is still the own
# id of its job, which claims it as before, and claims are conditional, so this only saves doomed
# attempts. Bounded; one worker process runs one job at a time.
DECIDED_LIMIT = 20_000
_decided: dict[str, None] = {}  # insertion-ordered set, oldest first


def _decided_add(item_ids: list[str]) -> None:
    for item_id in item_ids:
        _decided.pop(item_id, None)
        _decided[item_id] = None
    while len(_decided) > DECIDED_LIMIT:
        del _decided[next(iter(_decided))]


def _record(
    item: dict[str, Any], outcome: Any, *, holder: str, model: str, id2label: Mapping[int, str]
) -> dict[str, Any]:
    if isinstance(outcome, Exception):
        return {
            "item_id": item["id"],
            "status": "failed",
            "claimed_by": holder,
            "model": model,
            "error": f"The model could not classify this text: {outcome.__class__.__name__}: {outcome}",
        }
    return {
        "item_id": item["id"],
        "status": "done",
        "claimed_by": holder,
        "label": outcome.label,
        "label_name": outcome.label_name,
        "confidence": outcome.confidence,
        "probabilities": probabilities_named(outcome.probabilities, id2label),
        "model": model,
    }


# --- faults: retries that lose nothing ----------------------------------------------------
# classify_enqueue gives every job an RQ `Retry`. A job whose result write fails (DynamoDB away)
# first retries the write here with backoff, keeping the outcomes in memory; if DynamoDB stays away
# it stashes them in the job's meta and fails, and the retried job (same id, so it may take back the
# items it holds as `running`) writes them without classifying again. The finish condition
# (`running` and still ours) means a retry never overwrites a newer result.


def _job() -> Any:
    from rq import get_current_job

    return get_current_job()


def _retry_pause(job: Any) -> None:
    """Back off before a retried run: the worker has nothing better to do while DynamoDB is away."""
    if job is None or job.retries_left is None:
        return
    from django.conf import settings

    attempt = settings.INFERENCE_JOB_RETRIES - job.retries_left
    if attempt > 0:
        time.sleep(min(settings.RESULT_WRITE_BACKOFF_S * 2 ** (attempt - 1), 30.0))


def _finish_with_backoff(records: list[dict[str, Any]], *, job: Any) -> tuple[int, list[str]]:
    from django.conf import settings

    deadline = time.monotonic() + settings.RESULT_WRITE_RETRY_SECONDS
    delay = settings.RESULT_WRITE_BACKOFF_S
    while True:
        try:
            return dynamodb.items_finish_many(outcomes=records)
        except StoreUnavailable as error:
            if time.monotonic() + delay > deadline:
                _stash(job, records)
                raise StoreUnavailable(
                    f"results for {len(records)} item(s) could not be written; kept for the retry: {error}"
                ) from error
            log.warning("result write failed (%s); retrying in %.1f s", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _stash(job: Any, records: list[dict[str, Any]]) -> None:
    if job is None:
        return
    try:
        job.meta[STASH_KEY] = records
        job.save_meta()
    except Exception:  # Redis away too: the reconciler re-runs the items; only the inference is repeated
        log.exception("could not keep the unwritten results of job %s", job.id)


def _stashed_write(job: Any, *, holder: str) -> int:
    """Write the outcomes an earlier run of this job computed but could not store. Returns how many landed."""
    if job is None or not job.meta.get(STASH_KEY):
        return 0
    records = job.meta[STASH_KEY]
    taken = {
        item["id"]
        for item in dynamodb.items_claim_many(
            item_ids=[record["item_id"] for record in records], claimed_by=holder, job_id=job.id
        )
    }
    mine = [record | {"claimed_by": holder} for record in records if record["item_id"] in taken]
    written, lost = _finish_with_backoff(mine, job=job) if mine else (0, [])
    _webhooks_notify([record["item_id"] for record in mine if record["item_id"] not in lost])
    del job.meta[STASH_KEY]
    job.save_meta()
    return written
