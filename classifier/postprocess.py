"""Logits to predictions: pure functions on plain Python data, no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Prediction:
    """One answer per input text; every field is a plain, JSON-friendly Python value."""

    label: int
    label_name: str
    confidence: float
    probabilities: list[float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def softmax(logits: Sequence[float]) -> list[float]:
    # Subtracting the max keeps exp() finite; Python floats are doubles, so logits that arrived
    # in bf16 are not squashed further here.
    top = max(logits)
    exps = [math.exp(value - top) for value in logits]
    total = sum(exps)
    return [value / total for value in exps]


def label_name(id2label: Mapping[int, str], label: int) -> str:
    """The class's name, `LABEL_<id>` where the model names none (as transformers does)."""
    return id2label.get(label, f"LABEL_{label}")


def probabilities_named(probabilities: Sequence[float], id2label: Mapping[int, str]) -> dict[str, float]:
    """Each class's probability under its label name."""
    return {label_name(id2label, i): float(p) for i, p in enumerate(probabilities)}


def prediction_from_logits(
    logits: Sequence[float], id2label: Mapping[int, str], *, temperature: float = 1.0
) -> Prediction:
    """The top label and every class's probability; `temperature` is the model's calibration."""
    probabilities = softmax([value / temperature for value in logits])
    label = max(range(len(probabilities)), key=probabilities.__getitem__)
    return Prediction(
        label=label,
        label_name=label_name(id2label, label),
        confidence=probabilities[label],
        probabilities=probabilities,
    )


def predictions_from_logits(
    rows: Sequence[Sequence[float]], id2label: Mapping[int, str], *, temperature: float = 1.0
) -> list[Prediction]:
    return [prediction_from_logits(row, id2label, temperature=temperature) for row in rows]
