"""Start, follow and cancel fine-tuning runs: staff actions, each audited.

A run is stored here, then queued on the `training` queue; the worker's progress lives in Redis
(`classifier.finetune`). `finetune_sync` moves what the worker reported into the run, and registers
its candidate exactly once, when the worker says `succeeded`: a run that failed, was cancelled or
whose worker died registers nothing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from classifier.contracts import (
    FINETUNE_CANCEL_SUFFIX,
    FINETUNE_FIELDS,
    FINETUNE_JOB,
    FINETUNE_PROGRESS_PREFIX,
)
from dashboard import audit
from dashboard.exceptions import FineTuneRefused, QueueUnavailable
from dashboard.finetune.models import FineTuneRun
from dashboard.queue import finetune_queue, redis_connection, redis_hash_read
from dashboard.registry.models import ModelVersion
from dashboard.registry.services import NAME, model_register

log = logging.getLogger(__name__)

PARAMETER_LIMITS = {  # name: (type, lowest, highest)
    "epochs": (int, 1, 50),
    "lr": (float, 1e-7, 1e-2),
    "batch_size": (int, 1, 512),
    "max_length": (int, 8, 4096),
    "seed": (int, 0, 2**31 - 1),
    "val_fraction": (float, 0.05, 0.5),
    "max_seconds": (float, 1, 7 * 86400),
}
DEFAULTS = {"epochs": 3, "lr": 5e-5, "batch_size": 32, "max_length": 128, "seed": 0, "val_fraction": 0.2}
# Progress older than a run's timeout is let go; a finished run's stays a week for its page.
PROGRESS_KEEP_S = 7 * 86400


def parameters_clean(raw: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters with defaults filled in; FineTuneRefused naming the first one out of range."""
    unknown = sorted(set(raw) - set(PARAMETER_LIMITS))
    if unknown:
        raise FineTuneRefused(f"Unknown parameter(s): {', '.join(unknown)}.")
    clean = dict(DEFAULTS)
    for name, value in raw.items():
        if value in (None, ""):
            continue
        kind, low, high = PARAMETER_LIMITS[name]
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise FineTuneRefused(f"{name} must be a number.") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise FineTuneRefused(f"{name} must be between {low:g} and {high:g}.")
        clean[name] = number
    return clean


def base_resolve(base: str) -> str:
    """The base's weights: a registry version's source, else `base` itself (a directory or a hub id)."""
    base = base.strip()
    if not base or len(base) > 1000:
        raise FineTuneRefused("Give a base: a registered version, a hub id or a directory on the worker hosts.")
    version = ModelVersion.objects.filter(pk=base).first()
    return version.source if version is not None else base


def finetune_start(
    *, user: Any, name: str, base: str, rows: list[list[Any]], data_summary: str, parameters: dict[str, Any]
) -> FineTuneRun:
    """Queue a run on the `training` queue (powering on a worker host like classification does)."""
    if not NAME.fullmatch(name.strip()):
        raise FineTuneRefused(
            "A model name is 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit."
        )
    clean = parameters_clean(parameters)
    run = FineTuneRun(
        name=name.strip(),
        base=base.strip(),
        base_source=base_resolve(base),
        data_summary=data_summary[:500],
        rows=len(rows),
        parameters=clean,
        created_by=user if getattr(user, "pk", None) else None,
    )
    run.output = str(Path(settings.FINETUNE_OUTPUT_DIR) / f"{run.name}-{run.id}")
    run.save()
    try:
        finetune_queue().enqueue(
            FINETUNE_JOB,
            run.id,
            run.base_source,
            rows,
            clean,
            run.output,
            job_id=run.job_id,
            job_timeout=settings.FINETUNE_JOB_TIMEOUT,
            result_ttl=PROGRESS_KEEP_S,
            failure_ttl=PROGRESS_KEEP_S,
        )
    except RedisError as error:
        run.status, run.error, run.finished_at = "failed", f"Not queued: {error}", timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise QueueUnavailable(f"The fine-tune could not be queued: {error}") from error
    _audit(user, action="finetune start", target=run.id, detail=f"{run.base} on {run.data_summary}")
    from dashboard.power import capacity_ensure  # never raises

    capacity_ensure(trigger="fine-tune")
    return run


def finetune_progress(run: FineTuneRun) -> dict[str, str]:
    """What the worker last said about the run (FINETUNE_FIELDS), {} when it has said nothing."""
    found = redis_hash_read(FINETUNE_PROGRESS_PREFIX + run.id)
    return {name: found[name] for name in FINETUNE_FIELDS if name in found}


def finetune_sync(run: FineTuneRun) -> FineTuneRun:
    """Bring the run up to date with its worker's report; register its candidate once it succeeded."""
    if run.status in FineTuneRun.FINAL:
        return run
    progress = finetune_progress(run)
    status = progress.get("status")
    if status == "running" and run.status == "queued":
        FineTuneRun.objects.filter(pk=run.pk, status="queued").update(status="running")
        run.status = "running"
    if status in {"failed", "cancelled"}:
        return _finish(run, status=status, error=progress.get("error", ""))
    if status == "succeeded":
        return _register(run, progress)
    died = _job_died(run)
    if died:
        return _finish(run, status="failed", error=died)
    return run


def _job_died(run: FineTuneRun) -> str:
    """Why the run's RQ job ended without a report (its worker was killed, it timed out), or ""."""
    try:
        job = Job.fetch(run.job_id, connection=redis_connection())
    except NoSuchJobError:
        return "" if run.status == "queued" else "The run's job is gone from the queue without a report."
    except RedisError:
        return ""
    if job.get_status(refresh=False) in {"failed", "stopped"}:
        result = job.latest_result()
        reason = ((result.exc_string or "") if result is not None else "").strip().splitlines()[-1:]
        return "The worker stopped during the run" + (f": {reason[0]}" if reason else ".")
    return ""


def _finish(run: FineTuneRun, *, status: str, error: str = "") -> FineTuneRun:
    updated = FineTuneRun.objects.filter(pk=run.pk).exclude(status__in=FineTuneRun.FINAL)
    updated.update(status=status, error=error, finished_at=timezone.now())
    run.refresh_from_db()
    return run


def _register(run: FineTuneRun, progress: dict[str, str]) -> FineTuneRun:
    try:
        metrics = json.loads(progress.get("metrics") or "{}")
    except ValueError:
        metrics = {}
    with transaction.atomic():
        locked = FineTuneRun.objects.select_for_update().get(pk=run.pk)
        if locked.status in FineTuneRun.FINAL:
            return locked
        version = model_register(
            name=locked.name,
            source=progress.get("output") or locked.output,
            user=locked.created_by,
            training_data=f"fine-tuned from {locked.base} on {locked.data_summary} (run {locked.id})",
            parameters=locked.parameters,
            metrics=metrics if isinstance(metrics, dict) else {},
        )
        locked.status, locked.model_version, locked.finished_at = "succeeded", version, timezone.now()
        locked.save(update_fields=["status", "model_version", "finished_at"])
    return locked


def finetune_cancel(*, run: FineTuneRun, user: Any) -> FineTuneRun:
    """Stop a run: a queued one never starts; a running one stops at its next step and saves nothing."""
    if run.status in FineTuneRun.FINAL:
        raise FineTuneRefused(f"The run has {run.status} already.")
    try:
        connection = redis_connection()
        connection.set(FINETUNE_PROGRESS_PREFIX + run.id + FINETUNE_CANCEL_SUFFIX, "1", ex=PROGRESS_KEEP_S)
        job = Job.fetch(run.job_id, connection=connection)
        if job.get_status(refresh=False) in {"queued", "deferred", "scheduled"}:
            job.cancel()
            run = _finish(run, status="cancelled")
    except NoSuchJobError:
        run = _finish(run, status="cancelled")
    except RedisError as error:
        raise QueueUnavailable(f"The cancel could not be sent: {error}") from error
    FineTuneRun.objects.filter(pk=run.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=timezone.now())
    run.refresh_from_db()
    _audit(user, action="finetune cancel", target=run.id, detail=f"was {run.status}")
    return run


def _audit(user: Any, *, action: str, target: str, detail: str) -> None:
    audit.audit_record(kind="model", actor=user, action=action, target=target, outcome="ok", detail=detail)
