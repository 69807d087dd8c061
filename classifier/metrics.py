"""Held-out evaluation: accuracy, per-class and macro precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def confusion_matrix(truth: Sequence[int], predicted: Sequence[int], classes: int) -> list[list[int]]:
    """Rows are true labels, columns predicted labels."""
    matrix = [[0] * classes for _ in range(classes)]
    for actual, guess in zip(truth, predicted, strict=True):
        matrix[actual][guess] += 1
    return matrix


def classification_report(
    truth: Sequence[int], predicted: Sequence[int], id2label: Mapping[int, str]
) -> dict[str, object]:
    classes = len(id2label)
    matrix = confusion_matrix(truth, predicted, classes)
    per_class = {id2label[i]: _class_scores(matrix, i) for i in range(classes)}
    correct = sum(matrix[i][i] for i in range(classes))
    return {
        "accuracy": correct / len(truth) if truth else 0.0,
        "per_class": per_class,
        "macro": {
            name: sum(scores[name] for scores in per_class.values()) / classes for name in ("precision", "recall", "f1")
        },
        "confusion_matrix": matrix,
        "support": len(truth),
    }


def _class_scores(matrix: list[list[int]], label: int) -> dict[str, float]:
    hits = matrix[label][label]
    predicted = sum(row[label] for row in matrix)
    actual = sum(matrix[label])
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}
