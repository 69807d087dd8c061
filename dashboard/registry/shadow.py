"""Shadow comparisons: run a candidate on a selection, a filter or every labelled item, beside the results.

Staff start one; it is queued on the `training` queue (`classifier.shadow`), never changes anyone's
results, and ends with a summary: how often the two models differ, each one's accuracy against
the people's labels (with counts), and time per text. `shadow_sync` brings a run up to date.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from classifier.contracts import SHADOW_JOB, SHADOW_PROGRESS_PREFIX
from dashboard import audit
from dashboard.aws import dynamodb
from dashboard.exceptions import QueueUnavailable, RegistryError
from dashboard.labels.models import HumanLabel
from dashboard.queue import finetune_queue, redis_connection
from dashboard.registry.models import ModelVersion, ShadowRun

KEEP_S = 7 * 86400


def ids_labelled() -> list[str]:
    return list(
        HumanLabel.objects.order_by("labelled_at").values_list("item_id", flat=True)[: settings.SHADOW_MAX_ITEMS + 1]
    )


def ids_matching(item_filter: dynamodb.ItemFilter) -> list[str]:
    """The done items a filter matches, newest first, at most SHADOW_MAX_ITEMS + 1 (to tell that more matched)."""
    from dataclasses import replace

    matching = dynamodb.items_iter(item_filter=replace(item_filter, status="done"))
    return [item["id"] for item in islice(matching, settings.SHADOW_MAX_ITEMS + 1)]


def shadow_start(*, user: Any, version_id: str, item_ids: list[str], scope: str) -> ShadowRun:
    """Queue a comparison of `version_id` on `item_ids`. Raises RegistryError, QueueUnavailable."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise RegistryError(f"No model version {version_id!r}.")
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        raise RegistryError("No items to compare on: choose a selection, a filter that matches, or label some items.")
    if len(ids) > settings.SHADOW_MAX_ITEMS:
        raise RegistryError(
            f"{len(ids):,}+ items: a comparison takes at most {settings.SHADOW_MAX_ITEMS:,}; narrow it."
        )
    run = ShadowRun.objects.create(
        candidate=version, scope=scope[:500], item_ids=ids, created_by=user if getattr(user, "pk", None) else None
    )
    try:
        finetune_queue().enqueue(
            SHADOW_JOB,
            run.id,
            version.id,
            version.source,
            ids,
            job_id=run.job_id,
            job_timeout=settings.FINETUNE_JOB_TIMEOUT,
            result_ttl=KEEP_S,
            failure_ttl=KEEP_S,
        )
    except RedisError as error:
        ShadowRun.objects.filter(pk=run.pk).update(
            status="failed", error=f"Not queued: {error}", finished_at=timezone.now()
        )
        raise QueueUnavailable(f"The comparison could not be queued: {error}") from error
    audit.audit_record(
        kind="model", actor=user, action="shadow start", target=version.id, outcome="ok", count=len(ids), detail=scope
    )
    from dashboard.power import capacity_ensure  # never raises

    capacity_ensure(trigger="shadow comparison")
    return run


def shadow_progress(run: ShadowRun) -> dict[str, str]:
    try:
        raw = redis_connection().hgetall(SHADOW_PROGRESS_PREFIX + run.id)
    except RedisError:
        return {}
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()
    }


def shadow_sync(run: ShadowRun) -> ShadowRun:
    """Copy the worker's outcome into the run once it has one (or its job died without one)."""
    if run.status in ShadowRun.FINAL:
        return run
    progress = shadow_progress(run)
    status = progress.get("status")
    if status == "succeeded":
        try:
            summary = json.loads(progress.get("summary") or "{}")
        except ValueError:
            summary = {}
        _finish(run, status="succeeded", summary=summary if isinstance(summary, dict) else {})
    elif status == "failed":
        _finish(run, status="failed", error=progress.get("error", ""))
    elif _job_failed(run):
        _finish(run, status="failed", error="The worker stopped during the comparison.")
    elif status == "running" and run.status == "queued":
        ShadowRun.objects.filter(pk=run.pk, status="queued").update(status="running")
    run.refresh_from_db()
    return run


def _job_failed(run: ShadowRun) -> bool:
    try:
        return Job.fetch(run.job_id, connection=redis_connection()).get_status(refresh=False) in {"failed", "stopped"}
    except (NoSuchJobError, RedisError):
        return False


def _finish(run: ShadowRun, *, status: str, error: str = "", summary: dict[str, Any] | None = None) -> None:
    ShadowRun.objects.filter(pk=run.pk).exclude(status__in=ShadowRun.FINAL).update(
        status=status, error=error, summary=summary or {}, finished_at=timezone.now()
    )


def shadow_report(run: ShadowRun) -> dict[str, Any]:
    """The comparison's figures for its page and the API: agreement, accuracies with counts, time per text."""
    summary = run.summary or {}
    labelled = summary.get("labelled") or 0

    def share(part: int | None, whole: int | None) -> float | None:
        return part / whole if part is not None and whole else None

    return {
        "compared": summary.get("compared", 0),
        "differ": summary.get("differ", 0),
        "failed": summary.get("failed", 0),
        "agreement": share((summary.get("compared") or 0) - (summary.get("differ") or 0), summary.get("compared")),
        "labelled": labelled,
        "current_right": summary.get("current_right"),
        "candidate_right": summary.get("candidate_right"),
        "current_accuracy": share(summary.get("current_right"), labelled),
        "candidate_accuracy": share(summary.get("candidate_right"), labelled),
        "current_models": summary.get("current_models") or {},
        "candidate_ms_per_text": summary.get("candidate_ms_per_text"),
        "serving_model": summary.get("serving_model"),
        "serving_ms_per_text": summary.get("serving_ms_per_text"),
        "differing": summary.get("differing") or [],
    }
