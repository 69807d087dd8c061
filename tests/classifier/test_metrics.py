from __future__ import annotations

import pytest

from classifier.metrics import classification_report, confusion_matrix

ID2LABEL = {0: "negative", 1: "positive"}


def test_confusion_matrix_rows_are_true_labels() -> None:
    assert confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], 2) == [[1, 1], [0, 2]]


def test_report_scores_each_class_and_the_macro_average() -> None:
    report = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ID2LABEL)
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["per_class"]["negative"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert report["per_class"]["positive"]["precision"] == pytest.approx(2 / 3)
    assert report["macro"]["f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_a_never_predicted_class_scores_zero_instead_of_dividing_by_zero() -> None:
    report = classification_report([0, 1], [0, 0], ID2LABEL)
    assert report["per_class"]["positive"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
