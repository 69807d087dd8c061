"""bench/quality.py's paired test: the exact McNemar p-value, against scipy's binomial test."""

from __future__ import annotations

import random

import pytest
from scipy.stats import binomtest

from bench.quality import mcnemar_p


def test_only_the_sentences_one_model_gets_right_count() -> None:
    both = [True] * 500 + [False] * 100
    assert mcnemar_p(both, both) == 1.0
    # Ten flips, all won by the first model: 2 * (1 / 2**10).
    assert mcnemar_p(both + [True] * 10, both + [False] * 10) == pytest.approx(2 / 1024)
    assert mcnemar_p(both + [True] * 5 + [False] * 5, both + [False] * 5 + [True] * 5) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_it_is_the_two_sided_binomial_test_of_the_flips(seed: int) -> None:
    rng = random.Random(seed)
    a = [rng.random() < 0.8 for _ in range(1898)]
    b = [hit if rng.random() < 0.9 else rng.random() < 0.7 for hit in a]
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    assert mcnemar_p(a, b) == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue)
