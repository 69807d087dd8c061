"""Confidence that means a probability: temperature scaling (Guo et al., 2017) and its measure.

A network trained to minimise cross-entropy ends up over-confident; dividing every logit by one
temperature T > 1, fitted on held-out data, fixes most of that without changing any prediction
(the arg-max is the same at every T). Pure functions on plain Python lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from classifier.postprocess import softmax

# log T is searched in this range; T = e^±4 is far beyond any model worth serving.
_LOG_T_RANGE = (-4.0, 4.0)
_GOLDEN = (math.sqrt(5) - 1) / 2


def negative_log_likelihood(logits: Sequence[Sequence[float]], labels: Sequence[int], temperature: float) -> float:
    """Mean cross-entropy of the labels under softmax(logits / temperature)."""
    total = 0.0
    for row, label in zip(logits, labels, strict=True):
        scaled = [value / temperature for value in row]
        top = max(scaled)
        log_sum = top + math.log(sum(math.exp(value - top) for value in scaled))
        total += log_sum - scaled[label]
    return total / len(labels)


def temperature_fit(logits: Sequence[Sequence[float]], labels: Sequence[int], *, tolerance: float = 1e-4) -> float:
    """The temperature that minimises validation NLL (golden-section search on log T; NLL is
    unimodal in T for fixed logits)."""
    if not labels:
        raise ValueError("cannot fit a temperature on no examples")
    low, high = _LOG_T_RANGE
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    fa = negative_log_likelihood(logits, labels, math.exp(a))
    fb = negative_log_likelihood(logits, labels, math.exp(b))
    while high - low > tolerance:
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - _GOLDEN * (high - low)
            fa = negative_log_likelihood(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + _GOLDEN * (high - low)
            fb = negative_log_likelihood(logits, labels, math.exp(b))
    return math.exp((low + high) / 2)


def expected_calibration_error(
    logits: Sequence[Sequence[float]], labels: Sequence[int], *, temperature: float = 1.0, bins: int = 15
) -> float:
    """|accuracy - confidence| averaged over equal-width confidence bins, weighted by their size."""
    if not labels:
        raise ValueError("cannot measure calibration on no examples")
    counts, correct, confidence = [0] * bins, [0] * bins, [0.0] * bins
    for row, label in zip(logits, labels, strict=True):
        probabilities = softmax([value / temperature for value in row])
        top = max(range(len(probabilities)), key=probabilities.__getitem__)
        slot = min(int(probabilities[top] * bins), bins - 1)
        counts[slot] += 1
        correct[slot] += int(top == label)
        confidence[slot] += probabilities[top]
    return sum(abs(correct[i] - confidence[i]) for i in range(bins)) / len(labels)
