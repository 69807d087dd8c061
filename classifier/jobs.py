"""RQ job functions. Thin: claim items in DynamoDB, run the warm engine, write outcomes back.

Jobs take ids (JSON-serialisable) and are enqueued by dotted path from the web process.
This module runs inside the inference worker, where Django is set up for the table adapter.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from classifier.contracts import (
    CLASSIFY_JOB,
    LOG_CONTEXT_KEY,
    STASH_KEY,
    TEXTS_KEY,
    log_context_fields,
    log_context_request_id,
    timestamp_now,
)
from classifier.postprocess import probabilities_named
from dashboard import metrics
from dashboard.aws import dynamodb
from dashboard.exceptions import ItemConflict, StoreUnavailable

log = logging.getLogger(__name__)

_engine: Any = None


def engine_set(engine: Any) -> None:
    """Install the engine the worker loaded at start-up, so no job pays for a model load."""
    global _engine
    _engine = engine


def engine_loaded() -> Any:
    """The engine this worker serves with, or None when it has loaded none (nothing is loaded here)."""
    return _engine


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


def job_log_fields(job: Any) -> dict[str, Any]:
    """What every line logged while `job` runs carries: its id, its own item ids, and the request, user
    and batch named by the log context it was enqueued with (dashboard/queue.py)."""
    fields: dict[str, Any] = {"job_id": job.id}
    if job.func_name == CLASSIFY_JOB and job.args and isinstance(job.args[0], list):
        fields["item_ids"] = [str(item_id) for item_id in job.args[0]]
    return fields | log_context_fields(job.meta.get(LOG_CONTEXT_KEY) or {})


def _logged_as_job(function: Callable[[list[str]], dict[str, int]]) -> Callable[[list[str]], dict[str, int]]:
    """Bind the running job's log fields for as long as it runs (the worker binds them too, for RQ's own lines)."""

    @functools.wraps(function)
    def run(item_ids: list[str]) -> dict[str, int]:
        job = _job()
        fields = (job_log_fields(job) if job is not None else {}) | {"item_ids": list(item_ids)}
        with structlog.contextvars.bound_contextvars(**fields):
            return function(item_ids)

    return run


@_logged_as_job
def classify_items(item_ids: list[str]) -> dict[str, int]:
    """Classify the queued items among `item_ids`, plus other waiting ones (micro-batching).

    Claims are atomic conditional updates, so each item is classified once, by whichever job claims
    it first; a job whose items were all taken by an earlier batch does nothing.
    """
    from django.conf import settings

    from classifier.microbatch import Origin, collect

    dequeued_at = timestamp_now()
    engine = engine_get()
    holder = _holder()
    job = _job()
    job_id = job.id if job is not None else None
    _retry_pause(job)
    kept = _stashed_write(job, holder=holder)
    origins: dict[str, Origin] = {}
    candidates = collect(
        item_ids,
        queue=_current_queue(),
        max_size=settings.MICROBATCH_MAX_SIZE,
        max_wait_s=settings.MICROBATCH_MAX_WAIT_MS / 1000,
        skip=_decided,
        origins=origins,
    )
    texts = _job_texts(job)
    written_now = _lone_written(engine, candidates, texts=texts, holder=holder, job_id=job_id, dequeued_at=dequeued_at)
    if written_now is None:
        written_now = _claimed_written(engine, candidates, holder=holder, job=job, dequeued_at=dequeued_at)
    _decided_add(candidates)
    if written_now is None:
        return {"claimed": kept, "done": kept, "failed": 0}
    claimed, records, (written, lost, known) = written_now
    taken = _not_cancelled(lost)
    if taken:
        log.warning("items %s were taken from this worker before their results were written", taken)
    stored = [record["item_id"] for record in records if record["item_id"] not in lost]
    _results_announce(stored, known=known)
    _outcomes_log(claimed, records, item_ids=item_ids, job=job, origins=origins, lost=lost)
    _webhooks_notify(stored)
    failed = sum(1 for record in records if record["status"] == "failed" and record["item_id"] not in lost)
    metrics.texts_classified_count(model=engine.model_name, done=written - failed, failed=failed)
    return {"claimed": len(claimed), "done": written - failed, "failed": failed}


Written = tuple[list[dict[str, Any]], list[dict[str, Any]], dynamodb.Finished]


def _claimed_written(engine: Any, candidates: list[str], *, holder: str, job: Any, dequeued_at: str) -> Written | None:
    """Claim the queued items among `candidates`, classify them and write their outcomes.

    Returns the items as claimed, their records and what was written; None when nothing was claimed.
    """
    claimed = dynamodb.items_claim_many(item_ids=candidates, claimed_by=holder, job_id=job.id if job else None)
    if not claimed:
        return None
    stamps, outcome_of = _inference(engine, {item["id"]: item["text"] for item in claimed})
    timings = {"dequeued_at": dequeued_at, **stamps}
    records = [
        _record(
            item,
            outcome_of[item["id"]],
            holder=holder,
            model=engine.model_name,
            id2label=engine.id2label,
            timings=timings,
        )
        for item in claimed
    ]
    return claimed, records, _finish_with_backoff(records, job=job)


def _lone_written(
    engine: Any, candidates: list[str], *, texts: Mapping[str, str], holder: str, job_id: str | None, dequeued_at: str
) -> Written | None:
    """A lone item whose text the job brought: classified first, then claimed and written in one request.

    Returns the stored item, its record and what was written. None when this is not such an item,
    or one this process already claimed or found taken (a job absorbed by an earlier batch), or when
    the write's condition found the item no longer queued with that text (taken, cancelled, changed,
    gone) or DynamoDB did not answer: the usual claim then decides, and an item whose stored text
    differs is classified again on it. A single submission then waits for one DynamoDB request in
    the worker instead of two in a row (docs/benchmarks.md, "Submit-to-result latency").
    """
    if len(candidates) != 1 or not isinstance(texts.get(candidates[0]), str) or candidates[0] in _decided:
        # An item an earlier batch here took: its claim fails at once, without running the model first.
        return None
    item_id, text = candidates[0], texts[candidates[0]]
    stamps, outcome_of = _inference(engine, {item_id: text})
    record = _record(
        {"id": item_id},
        outcome_of[item_id],
        holder=holder,
        model=engine.model_name,
        id2label=engine.id2label,
        timings={"dequeued_at": dequeued_at, **stamps},
    )
    try:
        stored = dynamodb.item_finish_queued(
            **record, text=text, job_id=job_id, started_at=stamps["inference_started_at"]
        )
    except (ItemConflict, StoreUnavailable) as error:
        log.debug("item %s goes through the claim: %s", item_id, error)
        return None
    return [stored], [record], dynamodb.Finished(1, [], {item_id: stored})


def _inference(engine: Any, texts: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Run the engine on {item id: text}: its start and end stamps, and each id's outcome."""
    started_at, started = timestamp_now(), time.perf_counter()
    outcomes = engine.predict_safe(list(texts.values()))
    metrics.inference_observe(model=engine.model_name, texts=len(texts), seconds=time.perf_counter() - started)
    if len(outcomes) != len(texts):
        raise RuntimeError(f"engine returned {len(outcomes)} outcomes for {len(texts)} texts")
    stamps = {"inference_started_at": started_at, "inference_finished_at": timestamp_now()}
    return stamps, dict(zip(texts, outcomes, strict=True))


def _job_texts(job: Any) -> Mapping[str, str]:
    texts = job.meta.get(TEXTS_KEY) if job is not None else None
    return texts if isinstance(texts, dict) else {}


def _not_cancelled(lost: list[str]) -> list[str]:
    """The lost items that were not cancelled while they ran: a cancelled item's result is dropped, quietly."""
    if not lost:
        return []
    try:
        current = dynamodb.items_get_many(item_ids=lost)
    except StoreUnavailable:
        return lost
    cancelled = [item_id for item_id in lost if current.get(item_id, {}).get("status") == "cancelled"]
    if cancelled:
        log.info("dropped the results of %d item(s) cancelled while they ran: %s", len(cancelled), cancelled)
    return [item_id for item_id in lost if item_id not in cancelled]


def _outcomes_log(
    claimed: list[dict[str, Any]],
    records: list[dict[str, Any]],
    *,
    item_ids: list[str],
    job: Any,
    origins: Mapping[str, Any],
    lost: list[str],
) -> None:
    """One line per item written, with the item's own request, user and batch: a micro-batch holds
    items of other jobs, submitted in other requests."""
    if not log.isEnabledFor(logging.INFO):
        return
    own = (job.meta.get(LOG_CONTEXT_KEY) or {}) if job is not None else {}
    own_ids = set(item_ids)
    for item, record in zip(claimed, records, strict=True):
        if record["item_id"] in lost:
            continue
        mine = item["id"] in own_ids or item["id"] not in origins
        origin_job, request_id = (None, log_context_request_id(own, item["id"])) if mine else origins[item["id"]]
        optional = {
            "label_name": record.get("label_name"),
            "confidence": record.get("confidence"),
            "error": record.get("error"),
            "origin_job_id": origin_job,
        }
        extra = {
            "item_id": item["id"],
            "status": record["status"],
            # Always set, None when unknown, so the running job's own values never stand in for them.
            "request_id": request_id,
            "user": item.get("submitted_by") or None,
            "batch_id": item.get("batch_id") or None,
            **{name: value for name, value in optional.items() if value is not None},
        }
        log.info("item classified" if record["status"] == "done" else "item failed", extra=extra)


def _results_announce(item_ids: list[str], *, known: Mapping[str, dict[str, Any]] | None = None) -> None:
    """Wake the long polls waiting on these stored results: first, as a client waits on it (never raises).
    `known` holds the stored items the write returned, which the long polls then answer without a read."""
    from dashboard.result_events import results_announce

    results_announce(item_ids=item_ids, items=known or {})


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
    item: dict[str, Any],
    outcome: Any,
    *,
    holder: str,
    model: str,
    id2label: Mapping[int, str],
    timings: Mapping[str, str],
) -> dict[str, Any]:
    """The outcome as `dynamodb.items_finish_many` takes it (plain data: a failed write keeps it in the job's meta)."""
    if isinstance(outcome, Exception):
        return {
            "item_id": item["id"],
            "status": "failed",
            "claimed_by": holder,
            "model": model,
            "error": f"The model could not classify this text: {outcome.__class__.__name__}: {outcome}",
            "timings": dict(timings),
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
        "timings": dict(timings),
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


def _finish_with_backoff(records: list[dict[str, Any]], *, job: Any) -> dynamodb.Finished:
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
    written, lost, known = _finish_with_backoff(mine, job=job) if mine else dynamodb.Finished(0, [], {})
    stored = [record["item_id"] for record in mine if record["item_id"] not in lost]
    _results_announce(stored, known=known)
    _webhooks_notify(stored)
    del job.meta[STASH_KEY]
    job.save_meta()
    return written
