from __future__ import annotations

import json

import pytest

from classifier.postprocess import prediction_from_logits, softmax

ID2LABEL = {0: "negative", 1: "positive"}


def test_softmax_sums_to_one_and_survives_large_logits() -> None:
    probabilities = softmax([1000.0, 999.0])
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities[0] > probabilities[1]


def test_prediction_names_the_winning_label_with_its_confidence() -> None:
    prediction = prediction_from_logits([-2.0, 3.0], ID2LABEL)
    assert prediction.label == 1
    assert prediction.label_name == "positive"
    assert prediction.confidence == pytest.approx(prediction.probabilities[1])
    assert prediction.confidence > 0.99


def test_prediction_is_plain_json() -> None:
    prediction = prediction_from_logits([0.5, 0.1], ID2LABEL)
    assert json.loads(json.dumps(prediction.to_dict()))["label_name"] == "negative"
    assert type(prediction.label) is int and type(prediction.confidence) is float


def test_an_unnamed_label_gets_a_placeholder_name() -> None:
    assert prediction_from_logits([0.0, 1.0], {0: "negative"}).label_name == "LABEL_1"
