"""Reads: what the pages and the API show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from classifier.contracts import timestamp_of, timestamp_parse
from dashboard.aws import dynamodb

ACTIVE_STATUSES = frozenset({"queued", "running"})


def submission_get(*, item_id: str) -> dict[str, Any]:
    return dynamodb.item_get(item_id=item_id)


def submission_page(*, limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest-first page of results and the cursor of the next page."""
    return dynamodb.items_page_newest(limit=limit, cursor=cursor)


def submission_public(item: dict[str, Any]) -> dict[str, Any]:
    """The fields the API returns for an item: the result schema, nothing internal."""
    return {field: item.get(field) for field in dynamodb.ITEM_FIELDS}


# --- Results explorer, bulk submission and dashboard charts ---------------------------------


def explorer_page(*, item_filter: dynamodb.ItemFilter, limit: int, cursor: str | None = None) -> dynamodb.Page:
    """A page of the explorer: Query on the index that does the most filtering, never a full Scan."""
    from django.conf import settings

    return dynamodb.items_page(
        item_filter=item_filter, limit=limit, cursor=cursor, scan_budget=settings.EXPLORER_SCAN_BUDGET
    )


def explorer_items(*, item_ids: list[str]) -> list[dict[str, Any]]:
    """Items by id, in the order asked, missing ones left out (the live refresh and selection export)."""
    found = dynamodb.items_get_many(item_ids=item_ids)
    return [found[item_id] for item_id in dict.fromkeys(item_ids) if item_id in found]


def items_in_order(*, item_ids: list[str], chunk: int = 100) -> Iterator[dict[str, Any]]:
    """Items by id in the order asked, one BatchGetItem (`chunk` ids) in memory at a time; missing ones left out."""
    for start in range(0, len(item_ids), chunk):
        ids = item_ids[start : start + chunk]
        found = dynamodb.items_get_many(item_ids=ids)
        yield from (found[item_id] for item_id in ids if item_id in found)


def explorer_iter(*, item_filter: dynamodb.ItemFilter) -> Iterator[dict[str, Any]]:
    """Every item the filter matches, newest first, one DynamoDB page in memory at a time."""
    return dynamodb.items_iter(item_filter=item_filter)


def preference_get(*, user, key: str, default: Any = None) -> Any:
    from dashboard.models import UserPreference

    preference = UserPreference.objects.filter(user=user, key=key).first()
    return default if preference is None else preference.value


def _model_dir() -> Path | None:
    from django.conf import settings

    path = Path(settings.CLASSIFIER_MODEL)
    return path if path.is_dir() else None


def metrics_read(path: Path) -> dict[str, Any] | None:
    """A model's metrics.json as a dict; None when it is missing, unreadable or not an object."""
    try:
        raw = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _metrics_found(model: str | None) -> tuple[dict[str, Any], str] | None:
    """The raw metrics of `model` and where they come from: a registered version's (its directory's
    metrics.json, else what was stored when it was registered), or the configured model's."""
    from django.conf import settings

    from dashboard.registry.models import ModelVersion

    version = ModelVersion.objects.filter(pk=model).first() if model else None
    if version is not None:
        raw = metrics_read(Path(version.source) / "metrics.json")
        if raw is not None:
            return raw, str(Path(version.source) / "metrics.json")
        return (version.metrics, f"the registry's entry for {version.id}") if version.metrics else None
    directory = _model_dir()
    if directory is None:
        return None
    if model and model not in {settings.CLASSIFIER_MODEL, str(directory), directory.name}:
        return None
    raw = metrics_read(directory / "metrics.json")
    return (raw, str(directory / "metrics.json")) if raw is not None else None


def model_metrics(*, model: str | None = None) -> dict[str, Any] | None:
    """Held-out metrics of `model` (the name a result carries), or of the configured model; or None.

    A registered version's come from the registry (`_metrics_found`); otherwise metrics are only
    shown for the configured model, so a result is never shown with another model's accuracy.
    """
    found = _metrics_found(model)
    if found is None:
        return None
    raw, path = found
    validation = raw.get("validation") or {}
    macro = validation.get("macro") or {}
    test = raw.get("test") or {}
    calibration = raw.get("calibration") or {}
    pretraining: dict[str, Any] = raw["pretraining"] if isinstance(raw.get("pretraining"), dict) else {}
    corpus: dict[str, Any] = raw["corpus"] if isinstance(raw.get("corpus"), dict) else {}
    return {
        "path": path,
        "accuracy": validation.get("accuracy"),
        "precision": macro.get("precision"),
        "recall": macro.get("recall"),
        "f1": macro.get("f1"),
        "support": validation.get("support"),
        "per_class": validation.get("per_class") or {},
        "base": raw.get("base"),
        "trained_at": raw.get("created_at"),
        # A separate test split and a fitted temperature exist for models `train_classifier` calibrated.
        "test_accuracy": test.get("accuracy"),
        "test_support": test.get("support"),
        "calibration_error": calibration.get("ece_after_scaling"),
        "temperature": calibration.get("temperature"),
        # What the model learnt from: its base's pre-training (when it had one) and the labelled data.
        "pretraining_steps": pretraining.get("steps"),
        "pretraining_texts": pretraining.get("texts"),
        "pretraining_loss": pretraining.get("final_loss"),
        "train_rows": (raw.get("dataset") or {}).get("train_rows"),
        "sources": [
            f"{source.get('package')} {source.get('version')} ({source.get('licence')})"
            for source in corpus.get("sources") or []
            if isinstance(source, dict)
        ],
    }


def model_labels() -> list[str]:
    """The configured model's label names (from its config.json), for the label filter's suggestions."""
    directory = _model_dir()
    if directory is None:
        return []
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return []
    id2label = config.get("id2label") or {}
    return [str(id2label[key]) for key in sorted(id2label, key=lambda key: int(key) if str(key).isdigit() else 0)]


def item_timings(item: dict[str, Any]) -> dict[str, float | None]:
    """Seconds waiting (created → started), running (started → finished) and in total."""

    created, started, finished = (timestamp_parse(item.get(key)) for key in ("created_at", "started_at", "finished_at"))

    def between(a: datetime | None, b: datetime | None) -> float | None:
        return (b - a).total_seconds() if a and b else None

    return {
        "queued_seconds": between(created, started),
        "running_seconds": between(started, finished),
        "total_seconds": between(created, finished),
    }


def item_probabilities(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Each class's probability, likeliest first (then by name), marking the item's own label."""
    probabilities = item.get("probabilities") or {}
    ranked = sorted(probabilities.items(), key=lambda pair: (-pair[1], pair[0]))
    return [{"label": name, "probability": p, "top": name == item.get("label_name")} for name, p in ranked]


def audit_events(*, kind: str | None = None, actor_name: str | None = None):
    """Audit events, newest first, optionally of one kind and by one user (or system part)."""
    from dashboard.models import AuditEvent

    events = AuditEvent.objects.select_related("actor")
    if kind:
        events = events.filter(kind=kind)
    if actor_name:
        events = events.filter(actor_name=actor_name)
    return events


def api_tokens_visible(*, user):
    """The API tokens a user may see and revoke, newest first: their own, or everyone's for staff."""
    from dashboard.models import ApiToken

    tokens = ApiToken.objects.select_related("user")
    return tokens if user.is_staff else tokens.filter(user=user)


def batch_get(*, batch_id: str):
    from dashboard.models import Batch

    return Batch.objects.filter(pk=batch_id).select_related("created_by").first()


def batch_recent(*, limit: int = 50):
    from dashboard.models import Batch

    return list(Batch.objects.select_related("created_by")[:limit])


def batch_public(batch, counts: dict[str, int]) -> dict[str, Any]:
    """What the batch API and the progress bar show."""
    finished = counts.get("done", 0) + counts.get("failed", 0) + counts.get("cancelled", 0)
    return {
        "id": batch.id,
        "status": "complete" if batch.completed_at else "running",
        "total": batch.total,
        "counts": {status: counts.get(status, 0) for status in dynamodb.STATUSES},
        "finished": finished,
        "percent": round(100 * finished / batch.total, 1) if batch.total else 100.0,
        "source": batch.source,
        "filename": batch.filename,
        "created_at": batch.created_at.isoformat(),
        "completed_at": batch.completed_at.isoformat() if batch.completed_at else None,
    }


def batch_items(*, batch_id: str) -> Iterator[dict[str, Any]]:
    return dynamodb.batch_items_iter(batch_id=batch_id)


CHART_MINUTES = 60


def dashboard_charts(*, now: datetime | None = None) -> dict[str, Any]:
    """Per-minute submissions and completions, items waiting, and the day's labels.

    Reads: one Query per month touched for the last hour (newest-first index, bounded by time),
    and one COUNT Query per label on the label index for the last day.
    """
    now = now or datetime.now(UTC)
    window_start = (now - timedelta(minutes=CHART_MINUTES - 1)).replace(second=0, microsecond=0)
    minutes = [window_start + timedelta(minutes=n) for n in range(CHART_MINUTES)]
    keys = [moment.strftime("%Y-%m-%dT%H:%M") for moment in minutes]
    submitted = dict.fromkeys(keys, 0)
    completed = dict.fromkeys(keys, 0)
    change = dict.fromkeys(keys, 0)  # items that start waiting minus items that stop, per minute
    seen_labels: set[str] = set()
    since = timestamp_of(window_start)
    for item in dynamodb.items_created_since(created_from=since, until=timestamp_of(now)):
        created = item["created_at"][:16]
        if created in submitted:
            submitted[created] += 1
            change[created] += 1
        finished = (item.get("finished_at") or "")[:16]
        if finished in completed:
            completed[finished] += 1
        started = (item.get("started_at") or "")[:16]
        if started in change:
            change[started] -= 1
        if item.get("label_name"):
            seen_labels.add(item["label_name"])
    waiting, level = [], 0
    for key in keys:
        level += change[key]
        waiting.append(max(level, 0))
    day_start = timestamp_of(now - timedelta(days=1))
    names = list(dict.fromkeys([*model_labels(), *sorted(seen_labels)]))
    labels = {label: dynamodb.label_count_since(label=label, created_from=day_start) for label in names}
    return {
        "minutes": [key[11:] for key in keys],
        "submitted": list(submitted.values()),
        "completed": list(completed.values()),
        "waiting": waiting,
        "labels": labels,
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
