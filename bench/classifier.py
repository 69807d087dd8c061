"""Classifier throughput: our engine against the one-process-per-text design and the stock pipeline.

    .venv/bin/python bench/classifier.py                  # XLNet-base size (random init), a table
    .venv/bin/python bench/classifier.py --model demo     # the shipped demo model
    .venv/bin/python bench/classifier.py --json           # one JSON object instead of the table
    .venv/bin/python bench/classifier.py --quick          # fewer texts and runs
    .venv/bin/python bench/classifier.py --compile        # adds a torch.compile row (minutes)
    python3 bench/classifier.py --model large --json --skip-naive   # XLNet-large size, no naive row

Everything runs in this process, except `naive`, which is a fresh Python process per text, as the
seed design had it. The worker runs where `load_engine` puts it: on a CUDA device when there is
one (then the roofline is the GPU's and the GPU rows below are added), else on the CPU. `base`
and `large` are built once into `--cache-dir` (var/bench) without Django (bench/classifier_inputs.py).
All rows classify texts from the same long-tailed length mix (sentences of
classifier/data/sentiment.csv joined together, ~5 to ~300 tokens, fixed seed), and
every ratio is between rows measured in the same run: the machine is shared, so absolute numbers
drift between runs much more than ratios do.

Rows (the worker, worker_transformers and pipeline rows keep the best of `--repeats` passes, 3 by default)
- naive: `python -c` that imports torch + transformers, loads the model and classifies one text;
  the median wall time of several runs; texts/s = 1 / median.
- pipeline_b1_fp32: `transformers.pipeline("text-classification")`, batch size 1, float32. On the
  base model it times a length-stratified subset (every 8th text by length) to keep the run short.
- worker: `classifier.engine.load_engine(model)` at its automatic settings (device, dtype: bf16 on
  CPUs with AMX or AVX-512 BF16; the fast XLNet forward; streams) on all texts after a warm-up.
  worker_fp32 is the same in float32; label_agreement is the share of texts on which their
  labels agree. worker_transformers is the worker with transformers' own XLNet forward
  (`fast=False`), everything else equal: what `classifier/xlnet_fast.py` is worth.
- roofline: torch.matmul GFLOP/s on square bf16 and fp32 matrices, measured before and after
  the worker row: the best single call with all threads, and the sustained rate of back-to-back
  calls run on the worker's streams (`bf16_matmul_sustained_gflops`); each precision's roofline
  (`bf16_matmul_gflops`, `fp32_matmul_gflops`) is the higher of the two. The peak
  (`peak_matmul_gflops`, `peak_dtype`) is the faster precision's roofline: bf16 on CPUs with AMX
  or AVX-512 BF16, fp32 on CPUs that emulate bf16 (there bf16 runs at under 1 GFLOP/s, and the
  engine picks fp32). Then the FLOPs the worker's padded batches cost (formula in `xlnet_flops`)
  and the worker's share of the peak (`worker_fraction_of_peak`), of the peak precision's
  sustained rate, and of the bf16 roofline (`worker_fraction_of_bf16_roofline`).
- worker + torch.compile (`--compile` only): compile time and steady-state texts/s vs eager.
- On a GPU (bench/gpu_rows.py): `pipeline_b1_fp32_cuda` and `pipeline_b1_fp16_cuda`, the stock
  pipeline on the GPU at batch size 1 on the same subset as the CPU pipeline row; the roofline is
  torch.matmul on two 8192² matrices on the GPU timed with CUDA events (bf16 and fp32, TF32 off);
  `gpu_peak_memory_bytes` is the allocator's peak during the worker row; `device_report` is
  `Engine.device_report()` after it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Before transformers is imported anywhere: no machine of ours reaches the hub.
os.environ["HF_HUB_OFFLINE"] = "1"

from bench import gpu_rows  # noqa: E402
from bench.classifier_inputs import CACHE_DIR, bench_texts, ensure_demo_model, ensure_sized_model  # noqa: E402
from bench.cpu_roofline import measure_matmul  # noqa: E402

ROOFLINE_DTYPES = {"bfloat16": "bf16", "float32": "fp32"}
TARGETS = {"vs_pipeline": 5.0, "vs_naive": 100.0, "fraction_of_peak": 0.5}

NAIVE_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    model_dir, text = sys.argv[1], sys.argv[2]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        logits = model(**tokenizer([text], return_tensors="pt"), use_mems=False).logits
    print(model.config.id2label[int(logits.argmax(-1))])
    """
)


# --- rows ---------------------------------------------------------------------------------------


def measure_naive(model_dir: Path, texts: Sequence[str], runs: int) -> dict[str, Any]:
    seconds = []
    for text in texts[:runs]:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", NAIVE_SCRIPT, str(model_dir), text],
            check=True,
            capture_output=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {"naive_texts_per_s": 1 / median, "naive_median_s": median, "naive_runs_s": seconds}


def stratified_subset(lengths: Sequence[int], count: int) -> list[int]:
    """`count` indices spread evenly over the length order, so the subset's mix matches the whole."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    step = len(order) / count
    return [order[int(step * k + step / 2)] for k in range(count)]


def measure_pipeline(model_dir: Path, texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """The stock pipeline on the CPU, batch size 1, float32 (on a GPU see `gpu_rows.pipeline_rows`)."""
    import torch
    from transformers import pipeline

    classify = pipeline(
        "text-classification", model=str(model_dir), tokenizer=str(model_dir), device=-1, dtype=torch.float32
    )
    # The saved config has use_mems_eval=False and mem_len=None: no memory is built or returned.
    assert classify.model.config.use_mems_eval is False and classify.model.config.mem_len is None
    classify(texts[0])  # warm-up
    seconds = float("inf")
    for _ in range(repeats):  # best pass, as for the worker rows
        started = time.perf_counter()
        labels = [classify(text, batch_size=1)[0]["label"] for text in texts]
        seconds = min(seconds, time.perf_counter() - started)
    return {"pipeline_b1_fp32_texts_per_s": len(texts) / seconds, "pipeline_texts": len(texts), "labels": labels}


def timed_predict(engine: Any, texts: Sequence[str], repeats: int) -> tuple[float, list[Any]]:
    """Best of `repeats` full passes: on a shared machine the fastest pass is the least disturbed."""
    best = float("inf")
    predictions: list[Any] = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictions = engine.predict(texts)
        best = min(best, time.perf_counter() - started)
    return best, predictions


def warm_up(engine: Any, texts: Sequence[str]) -> None:
    # One short and one long batch: first calls allocate and pick kernels.
    by_length = sorted(texts, key=len)
    engine.predict(by_length[: engine.max_batch_size])
    engine.predict(by_length[-engine.max_batch_size :])


def batch_shapes(lengths: Sequence[int], max_batch_size: int, max_batch_tokens: int | None) -> list[tuple[int, int]]:
    """(batch size, padded width) of each forward pass the engine makes for these lengths."""
    from classifier.batching import length_sorted_batches

    batches = length_sorted_batches(lengths, max_batch_size, max_batch_tokens)
    return [(len(b), max(lengths[i] for i in b)) for b in batches]


def xlnet_flops(config: Any, batch: int, width: int, *, keys_once: bool = False) -> float:
    """FLOPs of one XLNet sequence-classification forward pass on a padded (batch, width) input.

    Per layer and sequence of T positions, d = d_model, f = d_inner, as HF's XLNet computes it:
      projections q, k, v, o and the feed-forward: 2·T·(4·d² + 2·d·f)
      positional keys, over the 2T relative positions:  2·2T·d²
      scores content + position (2T wide) and the weighted sum: 2·T·T·d + 2·T·2T·d + 2·T·T·d = 8·T²·d
    plus the summary (d²) and classifier (d·labels) on the last position. Softmax, layer norm,
    GELU and the embedding lookup are ignored (they are memory-bound, not FLOP-bound).

    `keys_once` counts the positional keys once per batch, as `FastXLNet` computes them, instead of
    once per sequence: the FLOPs the fast forward actually executes (13–14 % fewer at these widths).
    """
    d, f, t = config.d_model, config.d_inner, width
    keys = 2 * (2 * t) * d * d
    per_sequence = 2 * t * (4 * d * d + 2 * d * f) + 8 * t * t * d + (0 if keys_once else keys)
    head = 2 * (d * d + d * config.num_labels)
    return batch * (config.n_layer * per_sequence + head) + (config.n_layer * keys if keys_once else 0)


def measure_compile(engine: Any, texts: Sequence[str], eager_texts_per_s: float) -> dict[str, Any]:
    """Does torch.compile pay off for the worker path? Compile cost, then steady state vs eager."""
    import torch

    eager_runner = engine.runner
    engine.runner = torch.compile(eager_runner if eager_runner is not None else engine.model, dynamic=True)
    try:
        started = time.perf_counter()
        warm_up(engine, texts)
        compile_seconds = time.perf_counter() - started
        seconds, predictions = timed_predict(engine, texts, repeats=1)
    finally:
        engine.runner = eager_runner
    return {
        "compiled_labels": [p.label for p in predictions],
        "compile_seconds": compile_seconds,
        "compiled_texts_per_s": len(texts) / seconds,
        "compiled_vs_eager": len(texts) / seconds / eager_texts_per_s,
    }


# --- the run ------------------------------------------------------------------------------------


def status(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from classifier.batching import padding_overhead
    from classifier.engine import load_engine

    model_dir = ensure_demo_model() if args.model == "demo" else ensure_sized_model(args.model, args.cache_dir)
    count = args.texts or (64 if args.quick else 256)
    texts = bench_texts(count)
    shown = model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir
    out: dict[str, Any] = {"model": f"{args.model} ({shown})", "texts": count}
    out["repeats"] = args.repeats

    status("roofline: matmul GFLOP/s...")
    sizes = (2048,) if args.quick else (2048, 4096)
    seconds_each = args.roofline_seconds or (1.0 if args.quick else 3.0)

    status("worker: load_engine with automatic settings...")
    engine = load_engine(str(model_dir))
    on_gpu = engine.device.startswith("cuda")
    like_worker = {"streams": engine.streams, "threads_per_stream": engine.threads_per_stream}

    def roofline() -> dict[str, dict[str, float]]:
        if on_gpu:  # the GPU's matmul, not the host's: that is where the worker's FLOPs run
            return {name: gpu_rows.cuda_matmul(name, seconds=seconds_each) for name in ROOFLINE_DTYPES}
        return {name: measure_matmul(name, sizes, seconds_each, **like_worker) for name in ROOFLINE_DTYPES}

    before = roofline()
    if on_gpu:
        out["gpu"] = gpu_rows.gpu_name()
    out.update(device=engine.device, dtype=engine.dtype, threads=torch.get_num_threads())
    out.update(implementation=engine.implementation, streams=engine.streams)
    out.update(max_batch_size=engine.max_batch_size, max_batch_tokens=engine.max_batch_tokens)
    out["load_seconds"] = engine.load_seconds
    # The demo's vocabulary where var/models/demo exists, else one built from the bench sentences
    # (bench/classifier_inputs.py): the token counts below depend on it.
    out["tokenizer_pieces"] = len(engine.tokenizer)
    lengths = [len(item["input_ids"]) for item in engine.preprocess(texts)]
    out.update(tokens_min=min(lengths), tokens_median=statistics.median(lengths), tokens_max=max(lengths))
    out["tokens_mean"] = statistics.fmean(lengths)
    sixteen = padding_overhead(lengths, 16)
    at_engine = engine.padding_overhead(texts)
    out.update(padding_unsorted_16=sixteen.unsorted, padding_sorted_16=sixteen.sorted)
    out.update(padding_unsorted_engine=at_engine.unsorted, padding_sorted_engine=at_engine.sorted)
    warm_up(engine, texts)
    if on_gpu:
        gpu_rows.memory_reset()
    seconds, predictions = timed_predict(engine, texts, repeats=args.repeats)
    out["worker_texts_per_s"] = count / seconds
    out["worker_seconds"] = seconds
    if on_gpu:
        out.update(gpu_rows.memory_peak())
    out["device_report"] = engine.device_report()
    after = roofline()
    for name, short in ROOFLINE_DTYPES.items():
        out[f"{short}_matmul_best_call_gflops"] = max(before[name]["best"], after[name]["best"])
        out[f"{short}_matmul_sustained_gflops"] = (before[name]["sustained"] + after[name]["sustained"]) / 2
        out[f"{short}_matmul_size"] = min(before[name]["size"], after[name]["size"])
        # A roofline is the highest rate measured either way, so the worker's share is never flattered.
        rates = (out[f"{short}_matmul_best_call_gflops"], out[f"{short}_matmul_sustained_gflops"])
        out[f"{short}_matmul_gflops"] = max(rates)
    # The peak is the machine's fastest matmul precision: bf16 where it has bf16 units, else fp32
    # (where bf16 is emulated, a share of its roofline would flatter the worker absurdly).
    peak = max(ROOFLINE_DTYPES.values(), key=lambda short: out[f"{short}_matmul_gflops"])
    out["peak_dtype"] = peak
    out["peak_matmul_gflops"] = out[f"{peak}_matmul_gflops"]

    config = engine.model.config
    shapes = batch_shapes(lengths, engine.max_batch_size, engine.max_batch_tokens)
    flops = sum(xlnet_flops(config, b, w) for b, w in shapes)
    out["flops_per_text"] = flops / count
    out["flops_per_text_unpadded"] = sum(xlnet_flops(config, 1, n) for n in lengths) / count
    out["worker_gflops"] = flops / seconds / 1e9
    out["worker_fraction_of_peak"] = out["worker_gflops"] / out["peak_matmul_gflops"]
    out["worker_fraction_of_sustained"] = out["worker_gflops"] / out[f"{peak}_matmul_sustained_gflops"]
    out["worker_fraction_of_bf16_roofline"] = out["worker_gflops"] / out["bf16_matmul_gflops"]
    # The same share in the FLOPs the fast forward executes (positional keys once per batch).
    executed = sum(xlnet_flops(config, b, w, keys_once=out["implementation"] == "fast-xlnet") for b, w in shapes)
    out["worker_executed_gflops"] = executed / seconds / 1e9
    out["worker_executed_fraction_of_peak"] = out["worker_executed_gflops"] / out["peak_matmul_gflops"]

    if args.compile:
        status("torch.compile: compiling the worker's forward (this takes minutes)...")
        out.update(measure_compile(engine, texts, out["worker_texts_per_s"]))
    del engine

    if args.model == "base" or not args.quick:
        status("worker_transformers: the same engine with transformers' XLNet forward...")
        stock = load_engine(str(model_dir), fast=False)
        warm_up(stock, texts)
        stock_seconds, stock_predictions = timed_predict(stock, texts, repeats=args.repeats)
        out["worker_transformers_texts_per_s"] = count / stock_seconds
        out["fast_vs_transformers"] = out["worker_texts_per_s"] / out["worker_transformers_texts_per_s"]
        del stock

    status("worker_fp32: the same engine in float32, for label agreement...")
    fp32 = load_engine(str(model_dir), dtype="float32")
    warm_up(fp32, texts)
    fp32_seconds, fp32_predictions = timed_predict(fp32, texts, repeats=1)
    out["worker_fp32_texts_per_s"] = count / fp32_seconds
    same = sum(a.label == b.label for a, b in zip(predictions, fp32_predictions, strict=True))
    out["label_agreement"] = same / count
    if "worker_transformers_texts_per_s" in out:
        out["transformers_label_agreement"] = statistics.fmean(
            a.label == b.label for a, b in zip(stock_predictions, fp32_predictions, strict=True)
        )
    if "compiled_labels" in out:
        compiled_labels = out.pop("compiled_labels")
        out["compiled_label_agreement"] = statistics.fmean(
            a == b.label for a, b in zip(compiled_labels, fp32_predictions, strict=True)
        )
    out["max_confidence_diff"] = max(
        abs(a.confidence - b.confidence) for a, b in zip(predictions, fp32_predictions, strict=True)
    )
    del fp32

    subset = stratified_subset(lengths, min(count, args.pipeline_texts or (16 if args.quick else 32)))
    if args.model == "demo":
        subset = list(range(count))
    if on_gpu:
        status("pipeline_b1_fp32_cuda, pipeline_b1_fp16_cuda: transformers pipeline on the GPU, batch size 1...")
        worker_labels = [predictions[i].label_name for i in subset]
        out.update(gpu_rows.pipeline_rows(model_dir, [texts[i] for i in subset], args.repeats, worker_labels))
    status("pipeline_b1_fp32: transformers pipeline on the CPU, batch size 1...")
    piped = measure_pipeline(model_dir, [texts[i] for i in subset], args.repeats)
    out["pipeline_b1_fp32_texts_per_s"] = piped["pipeline_b1_fp32_texts_per_s"]
    out["pipeline_texts"] = piped["pipeline_texts"]
    out["pipeline_tokens_mean"] = statistics.fmean(lengths[i] for i in subset)
    out["pipeline_label_agreement"] = statistics.fmean(
        label == predictions[i].label_name for label, i in zip(piped["labels"], subset, strict=True)
    )

    if not args.skip_naive:
        runs = 3 if args.quick else 5
        status(f"naive: {runs} fresh processes, one text each...")
        out.update(measure_naive(model_dir, texts, runs))
        out["worker_vs_naive"] = out["worker_texts_per_s"] / out["naive_texts_per_s"]

    out["worker_vs_pipeline"] = out["worker_texts_per_s"] / out["pipeline_b1_fp32_texts_per_s"]
    # Without the naive row (`--skip-naive`) that target is not judged, so it cannot be "met".
    out["targets_met"] = bool(
        out["worker_vs_pipeline"] >= TARGETS["vs_pipeline"]
        and out.get("worker_vs_naive", 0.0) >= TARGETS["vs_naive"]
        and out["worker_fraction_of_peak"] >= TARGETS["fraction_of_peak"]
    )
    return out


def print_table(out: dict[str, Any]) -> None:
    naive = out.get("naive_texts_per_s")
    rows: list[tuple[str, str, str]] = [("naive (process per text)", f"{naive:.3f}", "1x")] if naive else []
    rows.append(
        (
            f"pipeline_b1_fp32 ({out['pipeline_texts']} texts, CPU)",
            f"{out['pipeline_b1_fp32_texts_per_s']:.2f}",
            f"{out['pipeline_b1_fp32_texts_per_s'] / naive:.1f}x naive" if naive else "",
        )
    )
    for short in gpu_rows.PIPELINE_DTYPES:
        name = f"pipeline_b1_{short}_cuda"
        if f"{name}_texts_per_s" in out:
            agreement = f"labels agree with the worker {out[f'{name}_label_agreement']:.1%}"
            rows.append((f"{name} ({out['pipeline_texts']} texts)", f"{out[f'{name}_texts_per_s']:.2f}", agreement))
        elif f"{name}_error" in out:
            rows.append((name, "failed", out[f"{name}_error"][:120]))
    if "worker_transformers_texts_per_s" in out:
        rows.append(
            (
                f"worker_transformers ({out['dtype']}, transformers' XLNet forward)",
                f"{out['worker_transformers_texts_per_s']:.2f}",
                f"{out['worker_transformers_texts_per_s'] / out['pipeline_b1_fp32_texts_per_s']:.1f}x pipeline, "
                f"labels agree with fp32 {out['transformers_label_agreement']:.1%}",
            )
        )
    rows += [
        (
            "worker_fp32",
            f"{out['worker_fp32_texts_per_s']:.2f}",
            f"{out['worker_fp32_texts_per_s'] / out['pipeline_b1_fp32_texts_per_s']:.1f}x pipeline",
        ),
        (
            f"worker ({out['dtype']}, {out['device']}, {out['implementation']}, {out['streams']} streams, "
            f"batch {out['max_batch_size']}/{out['max_batch_tokens']} tokens)",
            f"{out['worker_texts_per_s']:.2f}",
            f"{out['worker_vs_pipeline']:.1f}x pipeline (target >= {TARGETS['vs_pipeline']:g})"
            + (f", {out['worker_vs_naive']:.0f}x naive (target >= {TARGETS['vs_naive']:g})" if naive else "")
            + (f", {out['fast_vs_transformers']:.1f}x worker_transformers" if "fast_vs_transformers" in out else ""),
        ),
    ]
    if "compiled_texts_per_s" in out:
        rows.append(
            (
                "worker + torch.compile",
                f"{out['compiled_texts_per_s']:.2f}",
                f"{out['compiled_vs_eager']:.2f}x eager, "
                f"compile {out['compile_seconds']:.0f} s, labels agree with fp32 {out['compiled_label_agreement']:.1%}",
            )
        )
    print(
        f"model: {out['model']}, {out['texts']} texts, tokens min/median/mean/max "
        f"{out['tokens_min']}/{out['tokens_median']:.0f}/{out['tokens_mean']:.0f}/{out['tokens_max']}, "
        f"{out['threads']} threads"
    )
    print("\n| row | texts/s | ratio |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\n| roofline | value |\n| --- | --- |")
    for name, short in ROOFLINE_DTYPES.items():
        print(f"| {name} matmul, best single call | {out[f'{short}_matmul_best_call_gflops']:.1f} GFLOP/s |")
        print(
            f"| {name} matmul, sustained ({out['streams']} streams like the worker, "
            f"{out[f'{short}_matmul_size']}²) | {out[f'{short}_matmul_sustained_gflops']:.1f} GFLOP/s |"
        )
    peak = f"{out['peak_matmul_gflops']:.1f} GFLOP/s, {out['peak_dtype']}"
    print(f"| peak (the fastest precision's higher rate) | {peak} |")
    print(
        f"| FLOPs per text (padded / unpadded) | {out['flops_per_text'] / 1e9:.2f} / "
        f"{out['flops_per_text_unpadded'] / 1e9:.2f} GFLOP |"
    )
    print(
        f"| worker achieved ({out['dtype']}) | {out['worker_gflops']:.1f} GFLOP/s = "
        f"{out['worker_fraction_of_peak']:.1%} of the {out['peak_dtype']} peak "
        f"(target >= {TARGETS['fraction_of_peak']:.0%}), "
        f"{out['worker_fraction_of_sustained']:.1%} of its sustained rate |"
    )
    print(
        f"| worker executed (positional keys once per batch) | {out['worker_executed_gflops']:.1f} GFLOP/s = "
        f"{out['worker_executed_fraction_of_peak']:.1%} of the peak |"
    )
    print(
        f"\npadding, 16-text batches: unsorted {out['padding_unsorted_16']:.0%}, "
        f"sorted {out['padding_sorted_16']:.0%}; "
        f"at the engine's batch size {out['max_batch_size']}: unsorted {out['padding_unsorted_engine']:.0%}, "
        f"sorted {out['padding_sorted_engine']:.0%}"
    )
    print(
        f"label agreement, worker vs fp32: {out['label_agreement']:.1%} "
        f"(max confidence difference {out['max_confidence_diff']:.4f})"
    )
    if "gpu_peak_memory_bytes" in out:
        print(
            f"GPU: {out['gpu']}; peak memory in the worker row {out['gpu_peak_memory_bytes'] / 2**30:.2f} GiB "
            f"allocated, {out['gpu_peak_reserved_bytes'] / 2**30:.2f} GiB reserved, "
            f"of {out['gpu_total_memory_bytes'] / 2**30:.0f} GiB"
        )
    print(f"targets met: {out['targets_met']}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("base", "large", "demo"), default="base", help="XLNet-base or -large size")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the process-per-text row")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where base and large are built once")
    parser.add_argument("--roofline-seconds", type=float, default=0, help="seconds per matmul measurement")
    parser.add_argument("--quick", action="store_true", help="64 texts, 3 naive runs, shorter roofline")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile on the worker")
    parser.add_argument("--texts", type=int, default=0, help="override the number of texts")
    parser.add_argument(
        "--repeats", type=int, default=0, help="passes of worker, worker_transformers and pipeline; the best counts"
    )
    parser.add_argument("--pipeline-texts", type=int, default=0, help="texts the pipeline row times (base)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    out = run(args)
    if args.json:
        # The table goes to stderr, so one run gives both and stdout stays one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            print_table(out)
        print(json.dumps(_rounded(out)))
    else:
        print_table(out)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if abs(value) < 1000 else round(value)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    main()
