"""Quality checks on the real demo model (var/models/demo); skipped until it is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

OBVIOUS = [
    ("I love this, it is wonderful", "positive"),
    ("This is terrible, I hate it", "negative"),
    ("Great product, works perfectly.", "positive"),
    ("Worst purchase ever, it broke after a day.", "negative"),
    ("The food was delicious and the staff were friendly.", "positive"),
    ("The movie was boring and way too long.", "negative"),
    ("Not bad at all, I enjoyed it.", "positive"),
    ("It is not good at all.", "negative"),
]


@pytest.mark.parametrize(("text", "expected"), OBVIOUS)
def test_the_demo_model_gets_obvious_sentences_right(demo_engine, text: str, expected: str) -> None:
    assert demo_engine.predict([text])[0].label_name == expected


def test_the_demo_model_met_its_accuracy_target(demo_model_dir) -> None:
    metrics = json.loads((Path(demo_model_dir) / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] > 0.95
