"""Fine-tuning a sequence classifier on a labelled CSV.

`train_classifier` is the one training path: the demo model (`classifier.demo`) and the
`train_classifier` management command both go through it. It validates the data before loading
anything heavy, trains with AdamW and a linear warm-up/decay schedule, evaluates on a validation set
(a file of its own, or a stratified share of the training file) through the same `Engine` the worker
uses, fits a temperature on it so the confidences it reports are calibrated (`classifier.calibration`;
saved as `calibration_temperature` in the model's config, which the engine applies), and saves a
normal Hugging Face model directory with a `metrics.json` beside the weights.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from classifier.batching import bucketed_batches
from classifier.calibration import expected_calibration_error, temperature_fit
from classifier.dataset import LabelledData, read_labelled_csv, stratified_split
from classifier.engine import Encoded, Engine
from classifier.exceptions import ModelLoadError, TrainingDataError
from classifier.hub import check_model_reference, offline_by_default
from classifier.metrics import classification_report
from classifier.model_source import model_source_local
from classifier.progress import progress_bar
from classifier.runtime import detect_runtime

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def train_classifier(
    *,
    base: str,
    data: str | Path,
    out: str | Path,
    epochs: int = 3,
    lr: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 128,
    seed: int = 0,
    val_fraction: float = 0.1,
    validation: str | Path | None = None,
    label_names: Sequence[str] | None = None,
    warmup_fraction: float = 0.1,
    label_smoothing: float = 0.0,
    max_seconds: float | None = None,
    device: str | None = None,
    progress: bool = True,
    report: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Fine-tune `base` (a directory or hub id) on `data` and save the result to `out`.

    `report(phase, **figures)`, when given, is called as training goes: phase `loading`, then
    `training` after every step (step, total, epoch, epochs, loss, elapsed_s), then `evaluating`
    and `saving`. It may raise to stop the run (a cancel), which leaves `out` as it was.

    Raises `TrainingDataError` for a bad CSV, before any model is loaded, and `ModelLoadError` for
    a base that cannot be loaded. `max_seconds` is a time budget: the learning-rate schedule
    follows whichever is further along, steps or time, and training stops when the time is up
    (the metrics record `stopped_early`). Returns the metrics also written to `out/metrics.json`.
    """
    dataset, train_idx, val_idx = _training_rows(data, validation, label_names, val_fraction, seed)
    offline_by_default()
    from transformers import set_seed

    set_seed(seed)
    # Training keeps fp32 weights; the precision override is for inference only.
    runtime = detect_runtime(device, "float32")
    report = report or _no_report
    report("loading")
    local_base = model_source_local(base)  # an s3:// base is copied once into the local cache
    tokenizer, model = _load_base(local_base, dataset.id2label)
    model.to(runtime.device)
    engine = _engine_for(model, tokenizer, str(out), runtime.device, dataset.id2label, max_length)
    encoded = engine.preprocess(dataset.texts)

    started = time.perf_counter()
    loop = _train_loop(
        engine,
        encoded,
        dataset.labels,
        train_idx,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        warmup_fraction=warmup_fraction,
        label_smoothing=label_smoothing,
        max_seconds=max_seconds,
        progress=progress,
        report=report,
    )
    train_seconds = time.perf_counter() - started
    report("evaluating")

    val_labels = [dataset.labels[i] for i in val_idx]
    val_logits = engine.logits([dataset.texts[i] for i in val_idx])
    temperature = temperature_fit(val_logits, val_labels)
    model.config.calibration_temperature = temperature
    predicted = [max(range(len(row)), key=row.__getitem__) for row in val_logits]
    scores = classification_report(val_labels, predicted, dataset.id2label)
    report("saving")
    model_dir_save(model, tokenizer, local_base, Path(out))
    metrics = {
        "model": str(out),
        "base": base,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": round(train_seconds, 2),
        "device": runtime.device,
        "parameters": {
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "max_length": max_length,
            "seed": seed,
            "val_fraction": None if validation is not None else val_fraction,
            "warmup_fraction": warmup_fraction,
            "label_smoothing": label_smoothing,
            "max_seconds": max_seconds,
        },
        "dataset": _dataset_summary(data, validation, dataset, train_idx, val_idx),
        "labels": {str(i): name for i, name in dataset.id2label.items()},
        "parameter_count": sum(p.numel() for p in model.parameters()),
        **loop,
        "validation": scores,
        "calibration": {
            "temperature": round(temperature, 4),
            "ece_before_scaling": round(expected_calibration_error(val_logits, val_labels), 4),
            "ece_after_scaling": round(expected_calibration_error(val_logits, val_labels, temperature=temperature), 4),
        },
    }
    (Path(out) / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    logger.info("trained %s in %.1fs: held-out accuracy %.4f", out, train_seconds, scores["accuracy"])
    return metrics


def _training_rows(
    data: str | Path,
    validation: str | Path | None,
    label_names: Sequence[str] | None,
    val_fraction: float,
    seed: int,
) -> tuple[LabelledData, list[int], list[int]]:
    """The rows to train on and the rows to validate on, as indices into one dataset."""
    train = read_labelled_csv(data, label_names=label_names)
    if validation is None:
        return (train, *stratified_split(train.labels, val_fraction, seed))
    held = read_labelled_csv(validation, label_names=[train.id2label[i] for i in sorted(train.id2label)])
    if len(held.id2label) != len(train.id2label):
        raise TrainingDataError(f"{validation}: {len(held.id2label)} labels, but {data} has {len(train.id2label)}")
    merged = LabelledData(train.texts + held.texts, train.labels + held.labels, train.id2label)
    first = len(train.texts)
    order = list(range(first))
    random.Random(seed).shuffle(order)
    return merged, order, list(range(first, first + len(held.texts)))


def _load_base(base: str, id2label: dict[int, str]) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    check_model_reference(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(id2label),
            id2label=id2label,
            label2id={name: i for i, name in id2label.items()},
            # A base that is already a classifier with another label count gets a fresh head.
            ignore_mismatched_sizes=True,
            dtype=torch.float32,
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load base model {base!r}: {exc}") from exc
    if hasattr(model.config, "use_mems_eval"):
        # XLNet defaults to carrying memory between calls at inference; batches are independent.
        model.config.use_mems_eval = False
        model.config.use_mems_train = False
    return tokenizer, model


def _train_loop(
    engine: Engine,
    encoded: list[Encoded],
    labels: list[int],
    train_idx: list[int],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    warmup_fraction: float,
    label_smoothing: float,
    max_seconds: float | None,
    progress: bool,
    report: Callable[..., None],
) -> dict[str, Any]:
    model = engine.model
    rng = random.Random(seed)
    lengths = [len(encoded[i]["input_ids"]) for i in train_idx]
    total = math.ceil(len(train_idx) / batch_size) * epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    bar = progress_bar(total=total, desc="fine-tuning", enabled=progress)
    model.train()
    started = time.perf_counter()
    step, epoch, stopped_early = 0, 0, False
    epoch_losses: list[float] = []
    while epoch < epochs and not stopped_early:
        epoch, epoch_losses = epoch + 1, []
        for batch in bucketed_batches(lengths, batch_size, rng):
            done = training_progress(step, total, time.perf_counter() - started, max_seconds)
            if done >= 1.0:
                stopped_early = True
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * schedule_factor(done, warmup=warmup_fraction, floor=1 / total)
            loss = _step(engine, encoded, labels, [train_idx[j] for j in batch], label_smoothing)
            optimizer_step(model, optimizer, loss)
            step += 1
            epoch_losses.append(loss.item())
            recent = epoch_losses[-20:]
            bar.set_postfix_str(f"epoch {epoch}/{epochs} loss {sum(recent) / len(recent):.4f}", refresh=False)
            bar.update()
            report(
                "training",
                step=step,
                total=total,
                epoch=epoch,
                epochs=epochs,
                loss=sum(recent) / len(recent),
                elapsed_s=time.perf_counter() - started,
            )
    mean_loss = sum(epoch_losses) / len(epoch_losses) if epoch_losses else None
    suffix = " (time budget reached)" if stopped_early else ""
    loss_text = "n/a" if mean_loss is None else f"{mean_loss:.4f}"
    bar.set_postfix_str(f"epoch {epoch}/{epochs} loss {loss_text}{suffix}", refresh=False)
    bar.close()
    model.eval()
    return {"steps": step, "stopped_early": stopped_early, "final_train_loss": mean_loss}


def _no_report(phase: str, **figures: Any) -> None:
    return None


def optimizer_step(model: Any, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Backward, clip the gradient norm at 1 (as transformers' Trainer does), step, clear."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def training_progress(step: int, total: int, elapsed: float, max_seconds: float | None) -> float:
    """How far through training we are, 0..1, by steps or by the time budget, whichever is ahead.

    Driving the learning rate from this means a slow machine still decays the rate to the end
    before the budget runs out, instead of stopping mid-schedule with a high rate and a poor
    model. When the budget is not binding, it is the step fraction and training is reproducible.
    """
    by_steps = step / total
    if max_seconds is None:
        return by_steps
    return max(by_steps, elapsed / max_seconds if max_seconds > 0 else 1.0)


def schedule_factor(progress: float, *, warmup: float, floor: float) -> float:
    """Linear warm-up over the first `warmup` of training, then linear decay; never below `floor`."""
    if progress < warmup:
        return max(progress, floor) / warmup
    return max(floor, 1.0 - progress) / (1.0 - warmup)


def _step(
    engine: Engine, encoded: list[Encoded], labels: list[int], rows: list[int], label_smoothing: float
) -> torch.Tensor:
    tensors = engine.collate([encoded[i] for i in rows])
    targets = torch.tensor([labels[i] for i in rows], device=engine.device)
    logits = engine.model(**tensors, **engine.forward_kwargs).logits
    return torch.nn.functional.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)


def _engine_for(
    model: Any, tokenizer: Any, name: str, device: str, id2label: dict[int, str], max_length: int
) -> Engine:
    """Evaluate through the worker's own inference path, not a second copy of it."""
    return Engine(
        model=model,
        tokenizer=tokenizer,
        model_name=name,
        device=device,
        dtype="float32",
        load_seconds=0.0,
        id2label=id2label,
        max_length=max_length,
        forward_kwargs={"use_mems": False} if model.config.model_type == "xlnet" else {},
    )


def model_dir_save(model: Any, tokenizer: Any, base: str, out: Path) -> None:
    """A Hugging Face model directory: weights, config, tokenizer and the base's spiece.model."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # The fast tokenizer saves only tokenizer.json; keep the SentencePiece model beside it so
    # slow-tokenizer tools and our vocabulary check can still read it.
    spiece = Path(base) / "spiece.model"
    if spiece.is_file():
        shutil.copyfile(spiece, out / "spiece.model")


def _dataset_summary(
    path: str | Path,
    validation: str | Path | None,
    dataset: LabelledData,
    train_idx: list[int],
    val_idx: list[int],
) -> dict[str, Any]:
    return {
        "path": str(path),
        "validation_path": None if validation is None else str(validation),
        "rows": len(dataset.texts),
        "train_rows": len(train_idx),
        "val_rows": len(val_idx),
        "label_counts": {dataset.id2label[i]: n for i, n in dataset.label_counts.items()},
    }
