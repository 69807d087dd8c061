"""The live evaluation of a model against people's labels: reads of the evaluation rows only.

Every figure is a GROUP BY over `HumanLabel` rows of one model (indexed on model, label,
predicted), so a page view costs the same at a thousand items as at ten million: it grows with the
number of labelled items, never with the results table.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Case, Count, F, Max, Min, Sum, Value, When

from dashboard import selectors
from dashboard.labels.models import HumanLabel

RELIABILITY_BINS = 10
Z_95 = 1.959964


def wilson_interval(successes: int, total: int, *, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion (95 % by default); None for no trials."""
    if total <= 0:
        return None
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def models_labelled() -> list[dict[str, Any]]:
    """Every model with labelled items: its name, how many, how many it got right, the last label's time."""
    rows = (
        HumanLabel.objects.values("model")
        .annotate(
            labelled=Count("item_id"),
            correct=Sum(Case(When(label=F("predicted"), then=Value(1)), default=Value(0))),
            last_labelled_at=Max("labelled_at"),
        )
        .order_by("model")
    )
    return [row | {"accuracy": row["correct"] / row["labelled"] if row["labelled"] else None} for row in rows]


def model_evaluation(*, model: str) -> dict[str, Any]:
    """Accuracy, macro-F1, the confusion matrix, a reliability diagram and labels over time, for `model`.

    `confusion_matrix` maps true label → predicted label → count, with every label of the model in
    both; `labelled` is how many items every figure rests on. One GROUP BY reads it all.
    """
    groups = list(
        HumanLabel.objects.filter(model=model)
        .values("label", "predicted", "confidence_bin", "week")
        .annotate(n=Count("item_id"), confidence_sum=Sum("confidence"), first=Min("labelled_at"))
        .order_by()
    )
    cells: dict[tuple[str, str], int] = {}
    for group in groups:
        key = (group["label"], group["predicted"])
        cells[key] = cells.get(key, 0) + group["n"]
    metrics = selectors.model_metrics(model=model)  # None unless `model` is the configured model
    labels = _labels(cells, configured=metrics is not None)
    confusion = {truth: {guess: cells.get((truth, guess), 0) for guess in labels} for truth in labels}
    labelled = sum(cells.values())
    correct = sum(confusion[name][name] for name in labels)
    per_class = _per_class(labels, confusion)
    scored = [name for name in labels if per_class[name]["support"] or per_class[name]["predicted"]]
    interval = wilson_interval(correct, labelled)
    firsts = [group["first"] for group in groups]
    return {
        "model": model,
        "labelled": labelled,
        "correct": correct,
        "accuracy": correct / labelled if labelled else None,
        "accuracy_interval": list(interval) if interval else None,
        "macro_f1": sum(per_class[name]["f1"] for name in scored) / len(scored) if scored else None,
        "labels": labels,
        "confusion_matrix": confusion,
        "per_class": per_class,
        "reliability": _reliability(groups),
        "over_time": _over_time(groups, labels),
        "training_distribution": _training_distribution(metrics, labels),
        "first_labelled_at": _iso(min(firsts)) if firsts else None,
    }


def confidence_bin(confidence: float | None) -> int | None:
    """The reliability bin (0 .. RELIABILITY_BINS - 1) a confidence falls in; the top bin takes 1.0."""
    if confidence is None:
        return None
    return min(RELIABILITY_BINS - 1, max(0, math.floor(confidence * RELIABILITY_BINS)))


def _labels(cells: dict[tuple[str, str], int], *, configured: bool) -> list[str]:
    """The configured model's labels in id order (when it is that model), then any others seen."""
    seen = sorted({name for pair in cells for name in pair if name})
    return list(dict.fromkeys([*(selectors.model_labels() if configured else []), *seen]))


def _per_class(labels: list[str], confusion: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for name in labels:
        true_positive = confusion[name][name]
        support = sum(confusion[name].values())
        predicted = sum(confusion[truth][name] for truth in labels)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": predicted}
    return result


def _reliability(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Confidence against accuracy in RELIABILITY_BINS equal bins; empty bins are left out."""
    bins: dict[int, dict[str, float]] = {}
    for group in groups:
        if group["confidence_bin"] is None:
            continue
        total = bins.setdefault(group["confidence_bin"], {"n": 0, "correct": 0, "confidence": 0.0})
        total["n"] += group["n"]
        total["correct"] += group["n"] if group["label"] == group["predicted"] else 0
        total["confidence"] += group["confidence_sum"] or 0.0
    return [
        {
            "low": number / RELIABILITY_BINS,
            "high": (number + 1) / RELIABILITY_BINS,
            "count": int(total["n"]),
            "confidence": total["confidence"] / total["n"],
            "accuracy": total["correct"] / total["n"],
        }
        for number, total in sorted(bins.items())
    ]


def _over_time(groups: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Per week the items were submitted: each true label's share of that week's labelled items."""
    weeks: dict[str, dict[str, Any]] = {}
    for group in sorted(groups, key=lambda group: group["week"]):
        week = weeks.setdefault(group["week"].isoformat(), {"counts": dict.fromkeys(labels, 0), "correct": 0})
        week["counts"][group["label"]] = week["counts"].get(group["label"], 0) + group["n"]
        week["correct"] += group["n"] if group["label"] == group["predicted"] else 0
    result = []
    for start, week in weeks.items():
        total = sum(week["counts"].values())
        result.append(
            {
                "week": start,
                "labelled": total,
                "accuracy": week["correct"] / total if total else None,
                "shares": {name: count / total for name, count in week["counts"].items()},
            }
        )
    return result


def _training_distribution(metrics: dict[str, Any] | None, labels: list[str]) -> dict[str, float] | None:
    """Each label's share of the model's held-out training data (its metrics.json), when it is known."""
    per_class = (metrics or {}).get("per_class") or {}
    supports = {name: float((per_class.get(name) or {}).get("support") or 0) for name in labels}
    total = sum(supports.values())
    return {name: count / total for name, count in supports.items()} if total else None


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
