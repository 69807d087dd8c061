"""XLNet pre-training: permutation language modelling with partial prediction (Yang et al., 2019).

For each sequence a random factorisation order is drawn over the positions to predict (the
targets, about `1 / predict_every` of the tokens, in spans of up to `max_span`, as in the paper's
partial prediction). A target may see every non-target and the targets before it in that order;
non-targets see each other both ways and no target. transformers' `XLNetLMHeadModel` takes this as
`perm_mask` (1 where a query may not see a key), and the targets as `target_mapping` (one row per
target), and its two-stream attention predicts each target from its query stream, which knows the
target's position but not its content.

`pretrain_xlnet` continues from any XLNet checkpoint with a tokenizer (a directory or hub id, e.g.
`xlnet-base-cased` where weights can be downloaded, or the small random one the demo builds) and
saves an `XLNetLMHeadModel` directory that `train_classifier` fine-tunes from.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from classifier.batching import bucketed_batches
from classifier.exceptions import ModelLoadError, TrainingDataError
from classifier.hub import check_model_reference, offline_by_default
from classifier.progress import progress_bar
from classifier.runtime import detect_runtime
from classifier.training import model_dir_save, optimizer_step, schedule_factor, training_progress

logger = logging.getLogger(__name__)

PRETRAINING_FILE = "pretraining.json"
# Shorter texts have too few tokens to predict a span from context.
MIN_TOKENS = 4


def pretrain_xlnet(
    *,
    base: str,
    texts: str | Path | Sequence[str],
    out: str | Path,
    steps: int = 1000,
    lr: float = 1e-4,
    batch_size: int = 64,
    max_length: int = 64,
    predict_every: int = 6,
    max_span: int = 3,
    warmup_fraction: float = 0.06,
    dropout: float | None = 0.0,
    seed: int = 0,
    max_seconds: float | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Pre-train `base` on `texts` (a file with one text per line, or the texts) and save to `out`.

    Raises `TrainingDataError` when there is no usable text and `ModelLoadError` when `base` is not
    an XLNet with a tokenizer. `max_seconds` caps the run the way it does in `train_classifier`.
    `dropout` applies during pre-training only (None keeps the base's): a small model seeing each
    text about once has nothing to over-fit, and dropout on its attention is a quarter of its time.
    Returns the run's summary, also written to `out/pretraining.json`.
    """
    lines = _read_texts(texts)
    offline_by_default()
    from transformers import set_seed

    set_seed(seed)
    runtime = detect_runtime(device, "float32")
    tokenizer, model, saved_dropout = _load_lm(base, dropout)
    model.to(runtime.device)
    sequences = _encode(tokenizer, lines, max_length)
    if not sequences:
        raise TrainingDataError(f"no text of at least {MIN_TOKENS} tokens to pre-train on")
    started = time.perf_counter()
    loop = _pretrain_loop(
        model,
        tokenizer,
        sequences,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        predict_every=predict_every,
        max_span=max_span,
        warmup_fraction=warmup_fraction,
        rng=random.Random(seed),
        device=runtime.device,
        max_seconds=max_seconds,
        progress=progress,
    )
    summary = {
        "model": str(out),
        "base": base,
        "objective": "permutation language modelling, partial prediction",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": round(time.perf_counter() - started, 2),
        "device": runtime.device,
        "texts": len(lines),
        "sequences": len(sequences),
        "tokens": sum(len(s) for s in sequences),
        "parameters": {
            "steps": steps,
            "lr": lr,
            "batch_size": batch_size,
            "max_length": max_length,
            "predict_every": predict_every,
            "max_span": max_span,
            "dropout": dropout,
            "seed": seed,
            "max_seconds": max_seconds,
        },
        **loop,
    }
    # The checkpoint keeps the base's dropout for fine-tuning, whatever pre-training ran with.
    model.config.dropout = saved_dropout
    _save(model, tokenizer, base, Path(out), summary)
    logger.info(
        "pre-trained %s in %.1fs: %d steps, loss %s", out, summary["train_seconds"], loop["steps"], loop["final_loss"]
    )
    return summary


def permutation_batch(
    sequences: Sequence[Sequence[int]],
    *,
    sep_id: int,
    cls_id: int,
    pad_id: int,
    rng: random.Random,
    predict_every: int = 6,
    max_span: int = 3,
) -> dict[str, torch.Tensor]:
    """One pre-training batch: inputs left-padded as XLNet's tokenizer pads, with their masks.

    Returns `input_ids`, `attention_mask`, `perm_mask` [B, T, T], `target_mapping` [B, P, T] and
    `labels` [B, P] (-100 where a sequence has fewer than P targets).
    """
    width = max(len(s) for s in sequences) + 2
    chosen = [_targets(len(s), predict_every, max_span, rng) for s in sequences]
    predicted = max(len(t) for t in chosen)
    size = len(sequences)
    input_ids = torch.full((size, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros(size, width)
    # Every target as (row, slot, column, turn in the factorisation order, token): the draws happen
    # per row in Python, the masks are then filled in one tensor operation each.
    rows: list[int] = []
    slots: list[int] = []
    columns: list[int] = []
    turns: list[int] = []
    tokens_at: list[int] = []
    for row, (tokens, targets) in enumerate(zip(sequences, chosen, strict=True)):
        offset = width - len(tokens) - 2
        input_ids[row, offset:] = torch.tensor([*tokens, sep_id, cls_id])
        attention_mask[row, offset:] = 1
        order = list(range(len(targets)))
        rng.shuffle(order)
        rows += [row] * len(targets)
        slots += range(len(targets))
        columns += [offset + position for position in targets]
        turns += order
        tokens_at += [tokens[position] for position in targets]
    row_index, slot_index, column_index = torch.tensor(rows), torch.tensor(slots), torch.tensor(columns)
    rank = torch.full((size, width), -1.0)
    rank[row_index, column_index] = torch.tensor(turns, dtype=torch.float)
    is_target = rank >= 0
    # Query i may not see key j when j is a target at or after i in the factorisation order;
    # non-targets have rank -1, so they see every non-target and no target.
    perm_mask = ((rank[:, :, None] <= rank[:, None, :]) & is_target[:, None, :]).float()
    target_mapping = torch.zeros(size, predicted, width)
    target_mapping[row_index, slot_index, column_index] = 1
    labels = torch.full((size, predicted), -100, dtype=torch.long)
    labels[row_index, slot_index] = torch.tensor(tokens_at)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "perm_mask": perm_mask,
        "target_mapping": target_mapping,
        "labels": labels,
    }


def _targets(length: int, predict_every: int, max_span: int, rng: random.Random) -> list[int]:
    """Sorted positions to predict: spans of 1..max_span tokens, about length / predict_every in all."""
    wanted = max(1, length // predict_every)
    targets: set[int] = set()
    while len(targets) < wanted:
        start = rng.randrange(length)
        for position in range(start, min(length, start + rng.randint(1, max_span))):
            if len(targets) < wanted:
                targets.add(position)
    return sorted(targets)


def _pretrain_loop(
    model: Any,
    tokenizer: Any,
    sequences: list[list[int]],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    predict_every: int,
    max_span: int,
    warmup_fraction: float,
    rng: random.Random,
    device: str,
    max_seconds: float | None,
    progress: bool,
) -> dict[str, Any]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    lengths = [len(s) for s in sequences]
    bar = progress_bar(total=steps, desc="pre-training", enabled=progress)
    model.train()
    started = time.perf_counter()
    step, losses, stopped_early = 0, [], False
    while step < steps and not stopped_early:
        for batch in bucketed_batches(lengths, batch_size, rng):
            done = training_progress(step, steps, time.perf_counter() - started, max_seconds)
            if done >= 1.0:
                stopped_early = step < steps
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * schedule_factor(done, warmup=warmup_fraction, floor=1 / steps)
            tensors = permutation_batch(
                [sequences[i] for i in batch],
                sep_id=tokenizer.sep_token_id,
                cls_id=tokenizer.cls_token_id,
                pad_id=tokenizer.pad_token_id,
                rng=rng,
                predict_every=predict_every,
                max_span=max_span,
            )
            loss = model(**{k: v.to(device) for k, v in tensors.items()}, use_mems=False).loss
            optimizer_step(model, optimizer, loss)
            step += 1
            losses.append(loss.item())
            recent = losses[-50:]
            bar.set_postfix_str(f"loss {sum(recent) / len(recent):.3f}", refresh=False)
            bar.update()
    bar.close()
    model.eval()
    # Mean losses over the first and last quarter (at most 50 steps each): noisy steps averaged out.
    window = max(1, min(50, len(losses) // 4))
    return {
        "steps": step,
        "stopped_early": stopped_early,
        "first_loss": round(sum(losses[:window]) / window, 4) if losses else None,
        "final_loss": round(sum(losses[-window:]) / window, 4) if losses else None,
        # The loss of guessing uniformly over the vocabulary, for scale.
        "uniform_loss": round(math.log(len(tokenizer)), 4),
    }


def _read_texts(texts: str | Path | Sequence[str]) -> list[str]:
    if isinstance(texts, (str, Path)):
        path = Path(texts)
        if not path.is_file():
            raise TrainingDataError(f"{path}: no such file")
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        lines = list(texts)
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        raise TrainingDataError("no text to pre-train on")
    return lines


def _encode(tokenizer: Any, lines: list[str], max_length: int) -> list[list[int]]:
    # Room for the <sep> <cls> pair XLNet ends every input with.
    room = max_length - 2
    encoded = tokenizer(lines, add_special_tokens=False)["input_ids"]
    return [list(ids[:room]) for ids in encoded if len(ids) >= MIN_TOKENS]


def _load_lm(base: str, dropout: float | None) -> tuple[Any, Any, float]:
    from transformers import AutoConfig, AutoTokenizer, XLNetLMHeadModel

    check_model_reference(base)
    try:
        config = AutoConfig.from_pretrained(base)
        if config.model_type != "xlnet":
            raise ModelLoadError(f"{base!r} is a {config.model_type} model; pre-training here is XLNet's")
        saved_dropout = config.dropout
        if dropout is not None:
            # Dropout layers are built from the config, so the override goes in before the weights.
            config.dropout = dropout
        config.use_mems_train = False
        config.use_mems_eval = False
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = XLNetLMHeadModel.from_pretrained(base, config=config, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load XLNet base {base!r}: {exc}") from exc
    return tokenizer, model, saved_dropout


def _save(model: Any, tokenizer: Any, base: str, out: Path, summary: dict[str, Any]) -> None:
    model_dir_save(model, tokenizer, base, out)
    (out / PRETRAINING_FILE).write_text(json.dumps(summary, indent=2) + "\n")
