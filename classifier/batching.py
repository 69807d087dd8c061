"""Length-aware batching: which inputs share a padded batch.

A batch is padded to its longest member, so mixing a 3-token text with a 300-token one wastes
almost the whole batch on padding. Sorting by length first keeps neighbours alike. Everything here
works on plain lists of token counts and indices, so it is testable without a model.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from classifier.exceptions import BatchMismatchError


@dataclass(frozen=True)
class PaddingReport:
    """Share of padded positions that carry no token, for input order vs length-sorted batches."""

    unsorted: float
    sorted: float


def in_order_batches(count: int, max_batch_size: int) -> list[list[int]]:
    _check_batch_size(max_batch_size)
    return [list(range(start, min(start + max_batch_size, count))) for start in range(0, count, max_batch_size)]


def length_sorted_batches(
    lengths: Sequence[int], max_batch_size: int, max_batch_tokens: int | None = None
) -> list[list[int]]:
    """Indices grouped into batches of similar length; callers restore input order by index.

    With `max_batch_tokens`, a batch also closes before its padded size (members x longest) would
    pass the budget: attention tensors grow as batch x width², and one batch of 32 long texts cost
    more than all the short batches together on a CPU (docs/benchmarks.md). A text longer than the
    budget still gets a batch of its own.
    """
    _check_batch_size(max_batch_size)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if not max_batch_tokens:
        return [order[start : start + max_batch_size] for start in range(0, len(order), max_batch_size)]
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        # Sorted ascending, so this text is the batch's longest: the padded size is members x its length.
        if current is None or len(current) >= max_batch_size or (len(current) + 1) * lengths[index] > max_batch_tokens:
            batches.append([index])
        else:
            current.append(index)
    return batches


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, *, bucket_batches: int = 16
) -> list[list[int]]:
    """Training batches: shuffled, but sorted within buckets so padding stays low.

    Sorting the whole epoch would feed the model all short texts first; sorting within a random
    bucket of `bucket_batches` batches keeps the randomness that SGD wants.
    """
    _check_batch_size(batch_size)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    bucket = batch_size * bucket_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start : start + bucket], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches if batch)
    real = sum(lengths[i] for batch in batches for i in batch)
    return 0.0 if padded == 0 else (padded - real) / padded


def padding_overhead(lengths: Sequence[int], max_batch_size: int) -> PaddingReport:
    """What sorting by length saves, for benchmarks and logs."""
    return PaddingReport(
        unsorted=padding_fraction(lengths, in_order_batches(len(lengths), max_batch_size)),
        sorted=padding_fraction(lengths, length_sorted_batches(lengths, max_batch_size)),
    )


def check_one_answer_per_input(inputs: int, answers: int) -> None:
    if inputs != answers:
        raise BatchMismatchError(f"a batch of {inputs} inputs returned {answers} answers")


def _check_batch_size(size: int) -> None:
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")


def pad_batch(
    encoded: Sequence[dict[str, list[int]]], *, pad_id: int, pad_type_id: int, side: str
) -> dict[str, list[list[int]]]:
    """Pad tokenized inputs to the batch's longest, on the side the model was trained with.

    XLNet reads its summary from the last position, so its tokenizer pads on the left.
    """
    width = max(len(item["input_ids"]) for item in encoded)
    fill = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": pad_type_id}
    out: dict[str, list[list[int]]] = {key: [] for key in encoded[0]}
    for item in encoded:
        missing = width - len(item["input_ids"])
        for key, values in item.items():
            padding = [fill.get(key, 0)] * missing
            out[key].append(padding + values if side == "left" else values + padding)
    return out
