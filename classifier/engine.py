"""The inference engine: load a sequence classifier once, then classify texts in batches.

Shaped like transformers' Pipeline: `preprocess` tokenizes, `forward` runs the model on one padded
batch (device-agnostic, under `torch.inference_mode()`), and `classifier.postprocess` turns logits
into `Prediction`s. Between them, `classifier.batching` groups texts of similar length.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from classifier.batching import (
    PaddingReport,
    check_one_answer_per_input,
    length_sorted_batches,
    pad_batch,
    padding_overhead,
)
from classifier.contracts import CUDA_MEMORY_FIELDS, ENGINE_STAT_FIELDS, model_display_name
from classifier.exceptions import ConfigurationError, DeviceMemoryError, ModelLoadError
from classifier.hub import check_model_reference, offline_by_default
from classifier.model_source import model_source_local
from classifier.postprocess import Prediction, prediction_from_logits
from classifier.runtime import detect_runtime

logger = logging.getLogger(__name__)

Encoded = dict[str, list[int]]
_T = TypeVar("_T")
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Engine:
    model: Any
    tokenizer: Any
    model_name: str
    device: str
    dtype: str
    load_seconds: float
    id2label: dict[int, str]
    max_length: int = 512
    max_batch_size: int = 32
    # Padded tokens per forward pass; long texts get small batches (see batching.length_sorted_batches).
    max_batch_tokens: int | None = 4096
    # Extra model arguments, e.g. XLNet's use_mems=False: no memory is carried between batches.
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    # What `forward` runs: the model itself, or an inference-only equivalent sharing its weights
    # (`classifier.xlnet_fast.FastXLNet`). Training always uses `model`.
    runner: Any = None
    # "transformers" or "fast-xlnet": shown with the worker's model, device and dtype.
    implementation: str = "transformers"
    # Batches run at once on a CPU, each on `threads_per_stream` of torch's threads (see `_map_batches`).
    streams: int = 1
    threads_per_stream: int = 1
    # Logits are divided by this before the softmax: fitted on validation data at training time
    # (`classifier.calibration`), so a confidence of 0.8 is right about 80% of the time.
    temperature: float = 1.0
    # Counters since load: `out_of_memory_splits` (a batch that ran out of device memory and was
    # halved) and `out_of_memory_failures` (a text that did not fit even alone).
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENGINE_STAT_FIELDS, 0), init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stats_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order; any failure fails the whole call."""
        if not texts:
            return []
        encoded = self.preprocess(texts)
        results: list[Prediction | None] = [None] * len(encoded)
        lengths = _lengths(encoded)
        batches = length_sorted_batches(lengths, self.max_batch_size, self.max_batch_tokens)
        outcomes = self._map_batches(
            batches, lengths, lambda batch: _raise_first(self._predict_batch([encoded[i] for i in batch]))
        )
        for batch, predictions in zip(batches, outcomes, strict=True):
            for index, prediction in zip(batch, predictions, strict=True):
                results[index] = prediction
        return results  # type: ignore[return-value]  # every index is filled above

    def logits(self, texts: Sequence[str]) -> list[list[float]]:
        """Raw logits, before the temperature, one row per text in input order (for evaluation)."""
        if not texts:
            return []
        encoded = self.preprocess(texts)
        rows: list[list[float]] = [[] for _ in encoded]
        lengths = _lengths(encoded)
        batches = length_sorted_batches(lengths, self.max_batch_size, self.max_batch_tokens)
        outcomes = self._map_batches(
            batches, lengths, lambda batch: _raise_first(self._forward_or_split([encoded[i] for i in batch]))
        )
        for batch, logits in zip(batches, outcomes, strict=True):
            for index, row in zip(batch, logits, strict=True):
                rows[index] = row
        return rows

    def predict_safe(self, texts: Sequence[str]) -> list[Prediction | Exception]:
        """Like `predict`, but a poison input fails alone: its slot holds the exception.

        A failed batch is retried one input at a time, so one bad text costs its batch a slower
        path instead of costing every other text its answer.
        """
        encoded = self._preprocess_each(texts)
        results: list[Prediction | Exception | None] = [
            item if isinstance(item, Exception) else None for item in encoded
        ]
        good = [i for i, item in enumerate(encoded) if not isinstance(item, Exception)]
        lengths = [len(encoded[i]["input_ids"]) for i in good]  # type: ignore[index]
        batches = [
            [good[j] for j in batch]
            for batch in length_sorted_batches(lengths, self.max_batch_size, self.max_batch_tokens)
        ]
        widths = [0 if isinstance(item, Exception) else len(item["input_ids"]) for item in encoded]
        outcomes = self._map_batches(batches, widths, lambda indices: self._predict_or_isolate(encoded, indices))
        for indices, batch_outcomes in zip(batches, outcomes, strict=True):
            for index, outcome in zip(indices, batch_outcomes, strict=True):
                results[index] = outcome
        return results  # type: ignore[return-value]  # every index is filled above

    def _map_batches(
        self, batches: list[list[int]], lengths: Sequence[int], run: Callable[[list[int]], _T]
    ) -> list[_T]:
        """`run(batch)` for every batch, results in order; on a CPU, `streams` batches at a time.

        One batch at a time with all of torch's threads splits every op across the cores, and each
        op waits for its slowest thread; on this 2-core CPU two batches at once, one thread each,
        ran 1.3-1.5x faster (docs/benchmarks.md). Batches start longest first, so the last to
        finish is a short one. A single batch runs on the calling thread with all the threads, unless
        it is small (`LONE_BATCH_TOKENS`): then with one.
        """
        cost = [len(batch) * max(lengths[i] for i in batch) for batch in batches]  # padded tokens
        if len(batches) == 1 and self.device == "cpu" and cost[0] <= LONE_BATCH_TOKENS:
            with _one_thread():
                return [run(batches[0])]
        if self.streams <= 1 or len(batches) <= 1:
            return [run(batch) for batch in batches]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.streams,
                    thread_name_prefix="inference",
                    # torch's thread count is per OS thread: each stream sets its own once.
                    initializer=torch.set_num_threads,
                    initargs=(self.threads_per_stream,),
                )
        futures = {k: self._pool.submit(run, batches[k]) for k in sorted(range(len(batches)), key=lambda k: -cost[k])}
        return [futures[k].result() for k in range(len(batches))]

    def preprocess(self, texts: Sequence[str]) -> list[Encoded]:
        """Tokenize without padding; padding waits until we know each text's batch."""
        batch = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in batch]
        return [{key: list(batch[key][i]) for key in keys} for i in range(len(texts))]

    def forward(self, encoded: Sequence[Encoded]) -> list[list[float]]:
        """Logits for one batch, as plain float lists (float32 first, whatever the model dtype)."""
        with torch.inference_mode():
            if self.runner is not None:
                logits = self.runner(**self.collate(encoded)).logits
            else:
                logits = self.model(**self.collate(encoded), **self.forward_kwargs).logits
        return logits.float().cpu().tolist()

    def collate(self, encoded: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        """One padded batch as tensors on the engine's device; training batches use it too."""
        padded = pad_batch(
            encoded,
            pad_id=self.tokenizer.pad_token_id,
            pad_type_id=getattr(self.tokenizer, "pad_token_type_id", 0),
            side=self.tokenizer.padding_side,
        )
        return {key: torch.tensor(value, device=self.device) for key, value in padded.items()}

    def device_report(self) -> dict[str, str | int | None]:
        """Where the model runs, in which dtype, and the memory it holds: what the worker publishes.

        On CUDA, torch's allocator figures for the engine's device (`memory_allocated_bytes` now,
        `max_memory_allocated_bytes` since start or the last reset) and the device's free and total
        memory as the driver sees them; on a CPU those are None. `rss_bytes` is this process's
        resident memory (None where /proc is missing).
        """
        report: dict[str, str | int | None] = {"device": self.device, "dtype": self.dtype, **self.stats}
        report.update(dict.fromkeys(CUDA_MEMORY_FIELDS))
        if self.device.startswith("cuda"):
            device = torch.device(self.device)
            free, total = torch.cuda.mem_get_info(device)
            report.update(
                memory_allocated_bytes=torch.cuda.memory_allocated(device),
                max_memory_allocated_bytes=torch.cuda.max_memory_allocated(device),
                memory_free_bytes=free,
                memory_total_bytes=total,
            )
        report["rss_bytes"] = _rss_bytes()
        return report

    def padding_overhead(self, texts: Sequence[str]) -> PaddingReport:
        return padding_overhead(_lengths(self.preprocess(texts)), self.max_batch_size)

    def _forward_or_split(self, encoded: Sequence[Encoded]) -> list[list[float] | DeviceMemoryError]:
        """`forward`, halving the batch on every out-of-memory until it fits; a text that does not fit alone
        gets a `DeviceMemoryError` in its slot, so one huge input never costs the others their answers.

        A batch's activations grow with its size times its width, so a batch that ran out of memory
        usually fits in halves; the halves run one after the other, in order.
        """
        try:
            logits = self.forward(encoded)
        except torch.OutOfMemoryError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "out of memory"
        else:
            check_one_answer_per_input(len(encoded), len(logits))
            return list(logits)
        # Outside the `except`: its traceback holds the failed pass's frames and their tensors, and
        # the cache can only give that memory back once they are gone.
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        if len(encoded) == 1:
            self._count("out_of_memory_failures")
            width = len(encoded[0]["input_ids"])
            return [DeviceMemoryError(f"a text of {width} tokens does not fit in {self.device} memory alone: {reason}")]
        self._count("out_of_memory_splits")
        half = len(encoded) // 2
        logger.warning(
            "batch of %d ran out of %s memory; retrying as %d + %d",
            len(encoded),
            self.device,
            half,
            len(encoded) - half,
        )
        return self._forward_or_split(encoded[:half]) + self._forward_or_split(encoded[half:])

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def _predict_batch(self, encoded: Sequence[Encoded]) -> list[Prediction | Exception]:
        """Predictions for one batch; a text too large for the device alone has its error in its slot."""
        return [
            row
            if isinstance(row, Exception)
            else prediction_from_logits(row, self.id2label, temperature=self.temperature)
            for row in self._forward_or_split(encoded)
        ]

    def _predict_or_isolate(
        self, encoded: Sequence[Encoded | Exception], indices: list[int]
    ) -> list[Prediction | Exception]:
        try:
            return self._predict_batch([encoded[i] for i in indices])  # type: ignore[misc]
        except Exception:
            logger.warning("batch of %d failed; retrying one by one", len(indices), exc_info=True)
        outcomes: list[Prediction | Exception] = []
        for i in indices:
            try:
                outcomes.append(self._predict_batch([encoded[i]])[0])  # type: ignore[list-item]
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _preprocess_each(self, texts: Sequence[str]) -> list[Encoded | Exception]:
        try:
            return list(self.preprocess(texts))
        except Exception:
            logger.warning("tokenizing %d texts failed; retrying one by one", len(texts))
        outcomes: list[Encoded | Exception] = []
        for text in texts:
            try:
                outcomes.append(self.preprocess([text])[0])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def load_engine(
    model: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    max_length: int = 512,
    max_batch_size: int = 32,
    max_batch_tokens: int | None = 4096,
    fast: bool | None = None,
    streams: int | None = None,
) -> Engine:
    """Load a sequence classifier from a local directory, a hub id or an S3 prefix, ready to predict.

    `device` (auto|cpu|cuda) and `dtype` (auto|float32|bfloat16|float16) override the environment
    (`CLASSIFIER_DEVICE`, `CLASSIFIER_DTYPE`), which overrides detection; see `classifier.runtime`.
    `fast` (default: on unless `CLASSIFIER_FAST_XLNET=0`) runs XLNet classifiers through
    `classifier.xlnet_fast.FastXLNet`, the same function with fewer passes over memory; other
    models, and XLNet configurations it does not cover, run through transformers as they are.
    `streams` (default `CLASSIFIER_STREAMS`, else 2 on a CPU with 2+ threads, 1 on a GPU) is how
    many batches run at once.
    """
    offline_by_default()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = model_source_local(model)  # an s3:// version, copied once into the local cache
    check_model_reference(model)
    runtime = detect_runtime(device, dtype)
    started = time.perf_counter()
    local_safetensors = Path(model, "model.safetensors").is_file()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
        network = AutoModelForSequenceClassification.from_pretrained(
            model, dtype=TORCH_DTYPES[runtime.dtype], use_safetensors=local_safetensors or None
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load model {model!r}: {exc}") from exc
    # from_pretrained(dtype=...) leaves XLNet's bare nn.Parameters (q, k, v, o, r) in float32 in
    # transformers 5, and a mixed model fails in einsum; casting the whole model fixes that.
    network.to(device=runtime.device, dtype=TORCH_DTYPES[runtime.dtype]).eval()
    runner, implementation = _inference_runner(network, fast)
    load_seconds = time.perf_counter() - started
    logger.info("loaded %s on %s (%s, %s) in %.2fs", model, runtime.device, runtime.dtype, implementation, load_seconds)
    return Engine(
        model=network,
        tokenizer=tokenizer,
        model_name=model_display_name(model),
        device=runtime.device,
        dtype=runtime.dtype,
        load_seconds=load_seconds,
        id2label={int(k): str(v) for k, v in network.config.id2label.items()},
        max_length=max_length,
        max_batch_size=max_batch_size,
        max_batch_tokens=max_batch_tokens,
        forward_kwargs={"use_mems": False} if network.config.model_type == "xlnet" else {},
        runner=runner,
        implementation=implementation,
        temperature=float(getattr(network.config, "calibration_temperature", 1.0)),
        **_streams(runtime.device, streams),
    )


# A batch of at most this many padded tokens, alone, runs on one of torch's threads on a CPU. Two
# threads made a lone sentence only 1.1x faster (2.2 vs 2.4 ms, demo model, 2-core Zen 4), but
# each op waits for its slowest thread, and with one core busy elsewhere (the web tier, DynamoDB
# Local) the second thread's wait cost a lone text up to 176 ms instead of 5 (docs/benchmarks.md,
# "Submit-to-result latency"). Bigger batches still split: 336 tokens ran 1.5x faster on two.
LONE_BATCH_TOKENS = 192


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """torch on one thread in the calling OS thread for the block (the count is per OS thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _streams(device: str, requested: int | None) -> dict[str, int]:
    """How many batches run at once, and torch threads for each: CPU cores are shared out."""
    threads = torch.get_num_threads()
    if requested is None:
        configured = os.environ.get("CLASSIFIER_STREAMS", "").strip()
        if configured:
            try:
                requested = int(configured)
            except ValueError:
                raise ConfigurationError(f"CLASSIFIER_STREAMS={configured!r} is not a whole number") from None
    if requested is None:
        requested = 2 if device == "cpu" and threads >= 2 else 1
    if requested < 1:
        raise ConfigurationError(f"streams must be at least 1, not {requested}")
    if device != "cpu":
        requested = 1  # a GPU runs one batch at a time well; more streams only add contention
    return {"streams": requested, "threads_per_stream": max(1, threads // requested)}


def _inference_runner(network: Any, fast: bool | None) -> tuple[Any, str]:
    """The fast XLNet forward when it applies and is wanted, else None (the model runs as it is)."""
    from classifier.xlnet_fast import FastXLNet, unsupported_reason

    if fast is None:
        fast = os.environ.get("CLASSIFIER_FAST_XLNET", "1").strip().lower() not in ("0", "false", "no", "off")
    if not fast or getattr(network.config, "model_type", None) != "xlnet":
        return None, "transformers"
    reason = unsupported_reason(network)
    if reason:
        logger.info("fast XLNet forward not used: %s", reason)
        return None, "transformers"
    return FastXLNet(network), "fast-xlnet"


def _lengths(encoded: Sequence[Encoded]) -> list[int]:
    return [len(item["input_ids"]) for item in encoded]


def _rss_bytes(statm: Path = Path("/proc/self/statm")) -> int | None:
    try:
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return None


def _raise_first(outcomes: Sequence[_T | Exception]) -> list[_T]:
    """The outcomes as they are, or the first failure raised: for calls where any failure fails them all."""
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return list(outcomes)  # type: ignore[arg-type]  # no exception is left
