"""The CPU's matmul roofline for bench/classifier.py: what the worker's share of the peak is measured against."""

from __future__ import annotations

import time
from collections.abc import Sequence

PROBE_SIZES = (256, 512, 1024)


def measure_matmul(
    dtype_name: str, sizes: Sequence[int], seconds_each: float, *, streams: int = 1, threads_per_stream: int = 0
) -> dict[str, float]:
    """torch.matmul GFLOP/s on square matrices.

    `best` is the fastest single call over all sizes, with all of torch's threads; `sustained` is
    the FLOPs of back-to-back calls at the largest size over their wall time, run the way the
    worker runs its batches: `streams` threads at once, each with `threads_per_stream` of torch's
    threads. On a shared 2-vCPU VM single calls swing between ~650 and ~2,200 GFLOP/s in bf16
    from one call to the next, and two 1-thread streams sustain more than one 2-thread stream
    (docs/benchmarks.md).

    A CPU without bf16 matrix units (no AMX, no AVX-512 BF16) emulates bf16 at well under
    1 GFLOP/s: on an AVX2-only AMD EPYC one 2048² call took a minute. So a small probe call comes
    first, and sizes whose single call would take longer than `seconds_each` are left out (the
    largest probe size that fits stands in when none does). `size` is the one measured last.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    dtype = getattr(torch, dtype_name)
    probe_rate = 0.0
    for n in PROBE_SIZES:
        if probe_rate and 2 * n**3 / probe_rate > seconds_each:
            break
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.matmul(a, b)  # warm-up: kernel selection, AMX tile configuration
        tick = time.perf_counter()
        torch.matmul(a, b)
        probe_rate = max(probe_rate, 2 * n**3 / (time.perf_counter() - tick))
    fits = [n for n in sizes if 2 * n**3 / probe_rate <= seconds_each]
    fits = fits or [max([n for n in PROBE_SIZES if 2 * n**3 / probe_rate <= seconds_each] or [PROBE_SIZES[0]])]
    best = 0.0
    for n in fits:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.matmul(a, b)
        reps, started = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - started < seconds_each:
            tick = time.perf_counter()
            torch.matmul(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - tick) / 1e9)
            reps += 1

    def back_to_back() -> int:
        torch.matmul(a, b)
        count, begun = 0, time.perf_counter()
        while time.perf_counter() - begun < seconds_each:
            torch.matmul(a, b)
            count += 1
        return count

    threads = threads_per_stream or torch.get_num_threads()
    with ThreadPoolExecutor(streams, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        started = time.perf_counter()
        calls = sum(f.result() for f in [pool.submit(back_to_back) for _ in range(streams)])
        sustained = 2 * n**3 * calls / (time.perf_counter() - started) / 1e9
    return {"best": best, "sustained": sustained, "size": n}
