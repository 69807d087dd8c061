from __future__ import annotations

import math
import random

import pytest

from classifier.calibration import expected_calibration_error, negative_log_likelihood, temperature_fit
from classifier.postprocess import prediction_from_logits


def overconfident(n: int = 2000, seed: int = 0) -> tuple[list[list[float]], list[int]]:
    """Logits whose true calibration temperature is 3: the label follows softmax(logits / 3)."""
    rng = random.Random(seed)
    logits, labels = [], []
    for _ in range(n):
        margin = rng.uniform(-9, 9)
        positive = 1 / (1 + math.exp(-margin / 3))
        logits.append([0.0, margin])
        labels.append(int(rng.random() < positive))
    return logits, labels


def test_the_fitted_temperature_recovers_the_one_the_labels_were_drawn_with() -> None:
    logits, labels = overconfident()
    assert temperature_fit(logits, labels) == pytest.approx(3.0, rel=0.15)


def test_scaling_lowers_the_calibration_error_and_the_nll() -> None:
    logits, labels = overconfident()
    t = temperature_fit(logits, labels)
    assert expected_calibration_error(logits, labels, temperature=t) < expected_calibration_error(logits, labels) / 2
    assert negative_log_likelihood(logits, labels, t) < negative_log_likelihood(logits, labels, 1.0)


def test_a_perfectly_calibrated_confident_model_has_no_error() -> None:
    # Confidence 1.0 (in floating point) on 10 examples, all right.
    assert expected_calibration_error([[0.0, 50.0]] * 10, [1] * 10) == pytest.approx(0.0, abs=1e-9)


def test_half_right_at_full_confidence_is_an_error_of_one_half() -> None:
    assert expected_calibration_error([[0.0, 50.0]] * 10, [1] * 5 + [0] * 5) == pytest.approx(0.5)


def test_the_temperature_changes_confidence_but_never_the_label() -> None:
    names = {0: "negative", 1: "positive"}
    sharp, soft = prediction_from_logits([0.2, 2.0], names), prediction_from_logits([0.2, 2.0], names, temperature=3.0)
    assert sharp.label == soft.label == 1
    assert soft.confidence < sharp.confidence
    assert sum(soft.probabilities) == pytest.approx(1.0)


def test_no_examples_is_an_error_not_a_number() -> None:
    with pytest.raises(ValueError):
        temperature_fit([], [])
    with pytest.raises(ValueError):
        expected_calibration_error([], [])
