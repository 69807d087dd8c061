"""Setting, changing and undoing people's labels: one item or a selection. Writes, each audited.

Any signed-in user may label any done item (the explorer shows every item to everyone). Each label
costs one against the user's LABELS_PER_MINUTE, charged before anything is written, so a selection
of a thousand is throttled as a thousand single labels are.

The item in DynamoDB is written first, conditionally (see `dynamodb.item_label_set`); then the
evaluation row. An item changed meanwhile is a conflict, said as such and never overwritten.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from classifier.contracts import timestamp_parse
from dashboard import audit
from dashboard.aws import dynamodb
from dashboard.exceptions import InvalidLabel, ItemConflict, RateLimited
from dashboard.labels.evaluation import confidence_bin
from dashboard.labels.models import HumanLabel
from dashboard.labels.vocabulary import label_resolve
from dashboard.ratelimit import labels_charge


def label_set(*, item_id: str, user: Any, label: object) -> dict[str, Any]:
    """Give one done item its true label (an int id or a name). Returns the item as stored.

    Raises ItemNotFound, InvalidLabel (no such label, or the item is not done), ItemConflict (it was
    labelled or re-run meanwhile), RateLimited and StoreUnavailable. Audited, refusals included.
    """
    _charge(user, count=1, target=item_id)
    try:
        item = _label_write(item=dynamodb.item_get(item_id=item_id), user=user, label=label)
    except (InvalidLabel, ItemConflict) as error:
        _audit(user, target=item_id, outcome="refused", count=1, detail=str(error))
        raise
    _audit(user, target=item_id, outcome="ok", count=1, detail=f"label {item['human_label_name']}")
    return item


def labels_set(*, item_ids: list[str], user: Any, label: object) -> dict[str, list[str]]:
    """Give each done item among `item_ids` the same label. At most LABELS_MAX_SELECTION ids.

    Returns {"labelled": [...], "left": [...]}: left are the missing, unfinished, failed items and
    those changed meanwhile. InvalidLabel when the label fits none of them.
    """
    ids = list(dict.fromkeys(item_ids))
    if len(ids) > settings.LABELS_MAX_SELECTION:
        raise InvalidLabel(f"Label at most {settings.LABELS_MAX_SELECTION:,} items at a time.")
    _charge(user, count=len(ids), target="selection")
    found = dynamodb.items_get_many(item_ids=ids)
    done = [found[item_id] for item_id in ids if item_id in found and found[item_id]["status"] == "done"]
    errors: list[str] = []

    def write(item: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return _label_store(item=item, user=user, label=label)
        except (InvalidLabel, ItemConflict) as error:
            errors.append(str(error))
            return None

    # The DynamoDB writes in parallel; the evaluation rows here, on this thread's database connection.
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(done)))) as pool:
        stored = list(pool.map(write, done))
    for item in stored:
        if item is not None:
            evaluation_row_write(item=item, user=user)
    labelled = [item["id"] for item in stored if item is not None]
    taken = set(labelled)
    left = [item_id for item_id in ids if item_id not in taken]
    if done and not labelled and errors and all(error == errors[0] for error in errors):
        _audit(user, target="selection", outcome="refused", count=len(ids), detail=errors[0])
        raise InvalidLabel(errors[0])
    shown = f"label {label}" + (f"; {len(left)} not done, missing or changed meanwhile left alone" if left else "")
    _audit(user, target="selection", outcome="ok", count=len(labelled), detail=shown)
    return {"labelled": labelled, "left": left}


def label_undo(*, item_id: str, user: Any, restore: str | None) -> dict[str, Any]:
    """Put an item's label back to `restore` (a label name), or take it off when `restore` is None.

    Review mode's undo: the label it set is replaced by the one the item had before. Audited.
    """
    item = dynamodb.item_get(item_id=item_id)
    if restore is None:
        if item.get("human_label_name") is None:
            return item
        item = dynamodb.item_label_clear(item=item)
        HumanLabel.objects.filter(item_id=item_id).delete()
        _audit(user, target=item_id, outcome="ok", count=1, detail="label taken off (undo)")
        return item
    _charge(user, count=1, target=item_id)
    item = _label_write(item=item, user=user, label=restore)
    _audit(user, target=item_id, outcome="ok", count=1, detail=f"label put back to {restore} (undo)")
    return item


def _label_write(*, item: dict[str, Any], user: Any, label: object) -> dict[str, Any]:
    stored = _label_store(item=item, user=user, label=label)
    evaluation_row_write(item=stored, user=user)
    return stored


def _label_store(*, item: dict[str, Any], user: Any, label: object) -> dict[str, Any]:
    """The label written on the item in DynamoDB (its evaluation row is the caller's to write)."""
    if item["status"] != "done":
        raise ItemConflict(f"Only done items can be labelled; this one is {item['status']}.")
    index, name = label_resolve(item=item, value=label)
    if item.get("human_label_name") == name:
        return item
    try:
        stored = dynamodb.item_label_set(
            item_id=item["id"],
            label=index,
            label_name=name,
            labelled_by=user.get_username(),
            previous=item.get("human_label_name"),
        )
    except ItemConflict:
        raise ItemConflict(
            f"Item {item['id']!r} changed while it was being labelled (labelled by someone else, or re-run). "
            "Reload it and try again."
        ) from None
    return stored


def evaluation_row_write(*, item: dict[str, Any], user: Any = None) -> None:
    """Make the evaluation's row say what the labelled item says (created or replaced)."""
    labelled_at = timestamp_parse(item.get("labelled_at")) or timezone.now()
    created_at = timestamp_parse(item.get("created_at")) or labelled_at
    day = created_at.date()
    HumanLabel.objects.update_or_create(
        item_id=item["id"],
        defaults={
            "model": item.get("model") or "",
            "predicted": item.get("label_name") or "",
            "confidence": item.get("confidence"),
            "label": item["human_label_name"],
            "labelled_by": user if getattr(user, "pk", None) else None,
            "labelled_by_name": item.get("labelled_by") or "",
            "labelled_at": labelled_at,
            "item_created_at": created_at,
            "confidence_bin": confidence_bin(item.get("confidence")),
            "week": day - timedelta(days=day.weekday()),
        },
    )


def evaluation_rebuild() -> dict[str, int]:
    """Make the evaluation rows again from the results table (a Scan): after a restore, or if the two parted.

    Returns {"written": n, "removed": m}: rows written from labelled items, and rows whose item is gone
    or no longer labelled.
    """
    seen: set[str] = set()
    for item in dynamodb.items_labelled_iter():
        evaluation_row_write(item=item, user=_user_named(item.get("labelled_by")))
        seen.add(item["id"])
    stale = [item_id for item_id in HumanLabel.objects.values_list("item_id", flat=True) if item_id not in seen]
    for start in range(0, len(stale), 500):
        HumanLabel.objects.filter(item_id__in=stale[start : start + 500]).delete()
    return {"written": len(seen), "removed": len(stale)}


def _user_named(username: str | None) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).first() if username else None


def _charge(user: Any, *, count: int, target: str) -> None:
    try:
        labels_charge(user=user, cost=count)
    except RateLimited as error:
        _audit(user, target=target, outcome="refused", count=count, detail=str(error))
        raise


def _audit(user: Any, *, target: str, outcome: str, count: int, detail: str) -> None:
    audit.audit_record(
        kind="data", actor=user, action="label", target=target, outcome=outcome, count=count, detail=detail
    )
