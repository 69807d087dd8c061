"""bench/classifier.py's rows on a CUDA device: the GPU's matmul roofline, the stock pipeline there, memory.

Each row is a function of plain arguments returning a dict of figures, like the CPU rows; times
on the GPU are taken with CUDA events or after a synchronize, never from a kernel launch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# A square matmul this size keeps an H100/H200 busy (~1 ms per bf16 call); smaller ones measure launch cost.
GPU_MATMUL_SIZE = 8192
PIPELINE_DTYPES = {"fp32": "float32", "fp16": "float16"}


def cuda_matmul(dtype_name: str, *, size: int = GPU_MATMUL_SIZE, seconds: float = 2.0) -> dict[str, float]:
    """torch.matmul GFLOP/s on two `size`² matrices on the GPU: the best single call and back-to-back calls.

    fp32 is measured as fp32 (TF32 off, torch's default for matmul), so it is the precision the
    engine's float32 runs in.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    flops = 2 * size**3
    for _ in range(3):  # warm-up: cuBLAS picks its kernel, clocks ramp up
        torch.matmul(a, b)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best, calls, began = 0.0, 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - began < seconds / 2:
        start.record()
        torch.matmul(a, b)
        end.record()
        end.synchronize()
        best = max(best, flops / (start.elapsed_time(end) / 1e3) / 1e9)
        calls += 1
    # Back to back, as many as the single calls took, timed once: what a stream of batches sustains.
    start.record()
    for _ in range(calls):
        torch.matmul(a, b)
    end.record()
    end.synchronize()
    sustained = flops * calls / (start.elapsed_time(end) / 1e3) / 1e9
    del a, b
    torch.cuda.empty_cache()
    return {"best": best, "sustained": sustained, "size": size}


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0)


def measure_pipeline_cuda(model_dir: Path, texts: Sequence[str], repeats: int, dtype_name: str) -> dict[str, Any]:
    """transformers.pipeline("text-classification") on the GPU at batch size 1, in `dtype_name`."""
    import torch
    from transformers import pipeline

    dtype = getattr(torch, dtype_name)
    classify = pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir), device=0, dtype=dtype)
    # from_pretrained(dtype=...) leaves XLNet's bare q/k/v/o/r parameters in float32 (see
    # classifier.engine.load_engine); a mixed model fails in einsum, so the model is cast whole.
    classify.model.to(dtype)
    classify(texts[0])  # warm-up
    seconds = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        labels = [classify(text, batch_size=1)[0]["label"] for text in texts]  # each answer is on the CPU
        seconds = min(seconds, time.perf_counter() - started)
    del classify
    torch.cuda.empty_cache()
    return {"texts_per_s": len(texts) / seconds, "labels": labels}


def pipeline_rows(model_dir: Path, texts: Sequence[str], repeats: int, worker_labels: Sequence[str]) -> dict[str, Any]:
    """`pipeline_b1_<dtype>_cuda` rows, each with its label agreement with the worker; a row that fails
    records its error and the others still run (one GPU session has to give every figure it can)."""
    out: dict[str, Any] = {}
    for short, dtype_name in PIPELINE_DTYPES.items():
        name = f"pipeline_b1_{short}_cuda"
        try:
            row = measure_pipeline_cuda(model_dir, texts, repeats, dtype_name)
        except Exception as exc:  # recorded, not hidden: the JSON carries it
            out[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
            continue
        out[f"{name}_texts_per_s"] = row["texts_per_s"]
        out[f"{name}_label_agreement"] = sum(a == b for a, b in zip(row["labels"], worker_labels, strict=True)) / len(
            texts
        )
    return out


def memory_reset() -> None:
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()


def memory_peak() -> dict[str, int]:
    """The allocator's peak since `memory_reset`, and the device's total memory."""
    import torch

    return {
        "gpu_peak_memory_bytes": torch.cuda.max_memory_allocated(),
        "gpu_peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "gpu_total_memory_bytes": torch.cuda.mem_get_info()[1],
    }
