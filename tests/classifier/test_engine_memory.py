"""Out of device memory, the engine halves the batch until it fits; a text that never fits fails alone.

Run on a CPU by injection: the model's forward raises torch.OutOfMemoryError above a batch size or width.
"""

from __future__ import annotations

import pytest
import torch

from classifier.exceptions import DeviceMemoryError
from tests.classifier.test_engine import MIXED


@pytest.fixture
def fits(tiny_engine, monkeypatch: pytest.MonkeyPatch):
    """Make the engine's forward run out of memory above `limit[0]` texts or `limit[1]` tokens wide."""
    limit = [10_000, 10_000]
    sizes: list[int] = []
    real_forward = tiny_engine.forward

    def forward(encoded):
        sizes.append(len(encoded))
        if len(encoded) > limit[0] or max(len(item["input_ids"]) for item in encoded) > limit[1]:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(encoded)

    monkeypatch.setattr(tiny_engine, "forward", forward)
    monkeypatch.setattr(tiny_engine, "max_batch_size", 64)
    monkeypatch.setattr(tiny_engine, "stats", dict.fromkeys(tiny_engine.stats, 0))
    return limit, sizes, real_forward


def test_a_batch_that_runs_out_of_memory_is_split_until_it_fits(tiny_engine, fits) -> None:
    limit, sizes, real_forward = fits
    texts = MIXED * 3  # 21 texts, one batch of 21 at max_batch_size 64
    unsplit = tiny_engine.predict(texts)
    assert sizes == [21] and tiny_engine.stats["out_of_memory_splits"] == 0
    limit[0] = 4
    sizes.clear()
    split = tiny_engine.predict(texts)
    assert sizes == [21, 10, 5, 2, 3, 5, 2, 3, 11, 5, 2, 3, 6, 3, 3]
    assert tiny_engine.stats["out_of_memory_splits"] == 7  # 21, 10, 5, 5, 11, 5, 6
    assert len(split) == len(texts)
    assert [p.label for p in split] == [p.label for p in unsplit]
    for a, b in zip(split, unsplit, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    alone = [real_forward(tiny_engine.preprocess([text]))[0] for text in texts]
    torch.testing.assert_close(torch.tensor(tiny_engine.logits(texts)), torch.tensor(alone), atol=1e-4, rtol=1e-4)


def test_a_text_too_large_alone_fails_alone_with_the_reason(tiny_engine, fits) -> None:
    limit, _, real_forward = fits
    widths = [len(item["input_ids"]) for item in tiny_engine.preprocess(MIXED)]
    limit[1] = sorted(widths)[-2]  # only the longest text does not fit, even alone
    longest = widths.index(max(widths))
    outcomes = tiny_engine.predict_safe(MIXED)
    assert len(outcomes) == len(MIXED)
    failure = outcomes[longest]
    assert isinstance(failure, DeviceMemoryError)
    assert f"a text of {max(widths)} tokens does not fit in cpu memory alone" in str(failure)
    assert "Tried to allocate 2.00 GiB" in str(failure)
    for i, outcome in enumerate(outcomes):
        if i != longest:
            expected = real_forward(tiny_engine.preprocess([MIXED[i]]))[0]
            assert outcome.probabilities == pytest.approx(torch.tensor(expected).softmax(-1).tolist(), abs=0.05)
            assert outcome.label == max((0, 1), key=expected.__getitem__)
    assert tiny_engine.stats["out_of_memory_failures"] == 1
    assert tiny_engine.stats["out_of_memory_splits"] >= 1
    with pytest.raises(DeviceMemoryError):
        tiny_engine.predict(MIXED)


def test_other_errors_are_not_taken_for_out_of_memory(tiny_engine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def forward(encoded):
        calls.append(len(encoded))
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(tiny_engine, "forward", forward)
    monkeypatch.setattr(tiny_engine, "max_batch_size", 64)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tiny_engine.predict(MIXED)
    assert calls == [len(MIXED)]
