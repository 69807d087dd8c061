"""The inference engine: load a sequence classifier once, then classify texts in batches.

Shaped like transformers' Pipeline: `preprocess` tokenizes, `forward` runs the model on one padded
batch (device-agnostic, under `torch.inference_mode()`), and `classifier.postprocess` turns logits
into `Prediction`s. Between them, `classifier.batching` groups texts of similar length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from classifier.batching import (
    PaddingReport,
    check_one_answer_per_input,
    length_sorted_batches,
    pad_batch,
    padding_overhead,
)
from classifier.exceptions import ModelLoadError
from classifier.hub import check_model_reference, offline_by_default
from classifier.postprocess import Prediction, prediction_from_logits
from classifier.runtime import detect_runtime

logger = logging.getLogger(__name__)

Encoded = dict[str, list[int]]
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

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order; any failure fails the whole call."""
        if not texts:
            return []
        encoded = self.preprocess(texts)
        results: list[Prediction | None] = [None] * len(encoded)
        for batch in length_sorted_batches(_lengths(encoded), self.max_batch_size, self.max_batch_tokens):
            for index, prediction in zip(batch, self._predict_batch([encoded[i] for i in batch]), strict=True):
                results[index] = prediction
        return results  # type: ignore[return-value]  # every index is filled above

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
        for batch in length_sorted_batches(lengths, self.max_batch_size, self.max_batch_tokens):
            indices = [good[j] for j in batch]
            for index, outcome in zip(indices, self._predict_or_isolate(encoded, indices), strict=True):
                results[index] = outcome
        return results  # type: ignore[return-value]  # every index is filled above

    def preprocess(self, texts: Sequence[str]) -> list[Encoded]:
        """Tokenize without padding; padding waits until we know each text's batch."""
        batch = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in batch]
        return [{key: list(batch[key][i]) for key in keys} for i in range(len(texts))]

    def forward(self, encoded: Sequence[Encoded]) -> list[list[float]]:
        """Logits for one batch, as plain float lists (float32 first, whatever the model dtype)."""
        with torch.inference_mode():
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

    def padding_overhead(self, texts: Sequence[str]) -> PaddingReport:
        return padding_overhead(_lengths(self.preprocess(texts)), self.max_batch_size)

    def _predict_batch(self, encoded: Sequence[Encoded]) -> list[Prediction]:
        logits = self.forward(encoded)
        check_one_answer_per_input(len(encoded), len(logits))
        return [prediction_from_logits(row, self.id2label) for row in logits]

    def _predict_or_isolate(
        self, encoded: Sequence[Encoded | Exception], indices: list[int]
    ) -> list[Prediction | Exception]:
        try:
            return list(self._predict_batch([encoded[i] for i in indices]))  # type: ignore[misc]
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
) -> Engine:
    """Load a sequence classifier from a local directory or a hub id, ready to predict.

    `device` (auto|cpu|cuda) and `dtype` (auto|float32|bfloat16|float16) override the environment
    (`CLASSIFIER_DEVICE`, `CLASSIFIER_DTYPE`), which overrides detection; see `classifier.runtime`.
    """
    offline_by_default()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

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
    load_seconds = time.perf_counter() - started
    logger.info("loaded %s on %s (%s) in %.2fs", model, runtime.device, runtime.dtype, load_seconds)
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
    )


def model_display_name(model: str) -> str:
    """What results record as their `model`: a hub id as given, a local directory by its name.

    An absolute path says where a file lies on one host, not which model answered; the directory
    name (e.g. `demo`, `xlnet-sentiment-v3`) is what people filter by in the explorer.
    """
    path = Path(model)
    return path.resolve().name if path.is_dir() else model


def _lengths(encoded: Sequence[Encoded]) -> list[int]:
    return [len(item["input_ids"]) for item in encoded]
