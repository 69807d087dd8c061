"""The engine on a CUDA device: the fast XLNet forward, precision, padding, out of memory, reporting.

Skipped without a GPU. No Django: on a GPU machine with only torch, transformers, sentencepiece
and pytest, `bash bench/gpu/run.sh` runs them as
    python -m pytest -p no:django --confcutdir tests/classifier -m gpu tests/classifier/test_engine_cuda.py
"""

from __future__ import annotations

import pytest
import torch

from tests.classifier.test_xlnet_fast import TEXTS, fast_logits, reference_logits

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def cuda_fp32(tiny_model_dir):
    from classifier.engine import load_engine

    return load_engine(str(tiny_model_dir), device="cuda", dtype="float32", max_batch_size=3)


@pytest.fixture(scope="module")
def cuda_bf16(tiny_model_dir):
    from classifier.engine import load_engine

    return load_engine(str(tiny_model_dir), device="cuda", dtype="bfloat16", max_batch_size=3)


def test_the_fast_forward_matches_transformers_in_float32_on_cuda(cuda_fp32) -> None:
    assert cuda_fp32.implementation == "fast-xlnet"
    batch = cuda_fp32.collate(cuda_fp32.preprocess(TEXTS))
    assert batch["input_ids"].device.type == "cuda"
    assert bool((batch["attention_mask"] == 0).any()), "the batch must contain padding"
    torch.testing.assert_close(fast_logits(cuda_fp32, batch), reference_logits(cuda_fp32, batch), atol=1e-4, rtol=1e-4)


def test_cuda_logits_match_the_cpu_engine(cuda_fp32, tiny_engine) -> None:
    on_gpu = torch.tensor(cuda_fp32.logits(TEXTS))
    on_cpu = torch.tensor(tiny_engine.logits(TEXTS))
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-4)


def test_bfloat16_labels_equal_float32_labels_on_cuda(cuda_fp32, cuda_bf16) -> None:
    assert cuda_bf16.dtype == "bfloat16" and cuda_bf16.implementation == "fast-xlnet"
    texts = TEXTS * 3
    full, low = cuda_fp32.predict(texts), cuda_bf16.predict(texts)
    for a, b in zip(low, full, strict=True):
        assert abs(a.confidence - b.confidence) < 0.05
        # A near tie in fp32 may flip within bf16's rounding; every clear answer must not.
        if b.confidence >= 0.55:
            assert a.label == b.label


def test_padded_batches_come_back_in_order_and_match_one_by_one(cuda_fp32) -> None:
    texts = TEXTS * 2  # several length-sorted batches of 3, each padded to its longest text
    batched = cuda_fp32.predict(texts)
    alone = [cuda_fp32.predict([text])[0] for text in texts]
    assert len(batched) == len(texts)
    for together, single in zip(batched, alone, strict=True):
        assert together.label == single.label
        assert together.probabilities == pytest.approx(single.probabilities, abs=1e-4)


def test_a_batch_too_large_for_the_gpu_is_split_and_classified(cuda_fp32, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real CUDA out-of-memory: the process is capped a little above what it holds now."""
    monkeypatch.setattr(cuda_fp32, "max_batch_size", 1024)
    monkeypatch.setattr(cuda_fp32, "max_batch_tokens", None)
    monkeypatch.setattr(cuda_fp32, "stats", dict.fromkeys(cuda_fp32.stats, 0))
    texts = [f"{TEXTS[i % len(TEXTS)]} " + "word " * 600 for i in range(512)]  # 512 texts of 512 tokens
    expected = [cuda_fp32.predict([text])[0] for text in texts[: len(TEXTS)]]
    torch.cuda.empty_cache()
    total = torch.cuda.mem_get_info()[1]
    # One batch of 512 x 512 tokens needs several GiB of scores; 256 MiB more than now fits a few texts.
    torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_reserved() + 256 * 2**20) / total)
    try:
        outcomes = cuda_fp32.predict_safe(texts)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert cuda_fp32.stats["out_of_memory_splits"] >= 1
    assert cuda_fp32.stats["out_of_memory_failures"] == 0
    assert len(outcomes) == len(texts)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    for got, want in zip(outcomes, expected, strict=False):
        assert got.label == want.label
        assert got.probabilities == pytest.approx(want.probabilities, abs=1e-4)
    assert cuda_fp32.device_report()["out_of_memory_splits"] == cuda_fp32.stats["out_of_memory_splits"]


def test_the_device_report_names_the_gpu_and_its_memory(cuda_bf16) -> None:
    cuda_bf16.predict(TEXTS)
    report = cuda_bf16.device_report()
    assert (report["device"], report["dtype"]) == ("cuda", "bfloat16")
    allocated, peak = report["memory_allocated_bytes"], report["max_memory_allocated_bytes"]
    free, total = report["memory_free_bytes"], report["memory_total_bytes"]
    assert isinstance(allocated, int) and allocated > 0  # the model's weights at least
    assert isinstance(peak, int) and peak >= allocated
    assert isinstance(free, int) and isinstance(total, int) and 0 < free <= total
    assert isinstance(report["rss_bytes"], int)
