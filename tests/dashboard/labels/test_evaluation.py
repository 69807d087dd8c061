"""The evaluation's figures from evaluation rows: exact counts, the interval, bins and weeks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dashboard.labels import evaluation
from dashboard.labels.models import HumanLabel

pytestmark = pytest.mark.django_db


def _row(n: int, *, truth: str, said: str, confidence: float, created: datetime, model: str = "m") -> None:
    day = created.date()
    HumanLabel.objects.create(
        item_id=f"i-{n}",
        model=model,
        predicted=said,
        label=truth,
        confidence=confidence,
        labelled_by_name="alice",
        labelled_at=created,
        item_created_at=created,
        confidence_bin=evaluation.confidence_bin(confidence),
        week=date.fromordinal(day.toordinal() - day.weekday()),
    )


def test_three_classes_give_the_confusion_matrix_and_macro_f1_by_hand():
    monday = datetime(2026, 12, 28, 9, tzinfo=UTC)  # a week that runs into the next year
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b"), ("c", "a"), ("c", "c")]
    for n, (truth, said) in enumerate(pairs):
        _row(n, truth=truth, said=said, confidence=0.9, created=monday)

    report = evaluation.model_evaluation(model="m")

    assert report["confusion_matrix"] == {
        "a": {"a": 1, "b": 1, "c": 0},
        "b": {"a": 0, "b": 2, "c": 0},
        "c": {"a": 1, "b": 0, "c": 1},
    }
    assert (report["labelled"], report["correct"]) == (6, 4)
    f1 = {"a": 0.5, "b": 2 * (2 / 3) * 1 / (2 / 3 + 1), "c": 2 * 1 * 0.5 / 1.5}
    assert report["macro_f1"] == pytest.approx(sum(f1.values()) / 3)
    low, high = report["accuracy_interval"]
    assert low == pytest.approx(0.300, abs=1e-3) and high == pytest.approx(0.903, abs=1e-3)  # Wilson, z=1.96


def test_reliability_bins_and_weeks_across_a_year_boundary():
    _row(0, truth="p", said="p", confidence=1.0, created=datetime(2026, 12, 31, tzinfo=UTC))
    _row(1, truth="n", said="p", confidence=0.95, created=datetime(2027, 1, 3, 23, tzinfo=UTC))
    _row(2, truth="n", said="n", confidence=0.55, created=datetime(2027, 1, 4, tzinfo=UTC))

    report = evaluation.model_evaluation(model="m")

    assert [(b["low"], b["count"], b["accuracy"]) for b in report["reliability"]] == [(0.5, 1, 1.0), (0.9, 2, 0.5)]
    assert report["reliability"][1]["confidence"] == pytest.approx(0.975)
    weeks = {week["week"]: (week["labelled"], week["shares"]) for week in report["over_time"]}
    assert weeks == {"2026-12-28": (2, {"n": 0.5, "p": 0.5}), "2027-01-04": (1, {"n": 1.0, "p": 0.0})}


def test_models_are_listed_with_their_counts_and_one_without_labels_is_empty():
    created = datetime(2026, 12, 1, tzinfo=UTC)
    _row(0, truth="p", said="p", confidence=0.7, created=created, model="v1")
    _row(1, truth="n", said="p", confidence=0.7, created=created, model="v2")
    _row(2, truth="n", said="n", confidence=0.7, created=created, model="v2")

    listed = {row["model"]: (row["labelled"], row["correct"]) for row in evaluation.models_labelled()}

    assert listed == {"v1": (1, 1), "v2": (2, 1)}
    empty = evaluation.model_evaluation(model="nobody")
    assert (empty["labelled"], empty["accuracy"], empty["accuracy_interval"], empty["reliability"]) == (
        0,
        None,
        None,
        [],
    )


@pytest.mark.parametrize(("confidence", "expected"), [(0.0, 0), (0.0999, 0), (0.1, 1), (0.5, 5), (0.999, 9), (1.0, 9)])
def test_a_confidence_falls_in_its_bin(confidence, expected):
    assert evaluation.confidence_bin(confidence) == expected
