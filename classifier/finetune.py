"""The fine-tuning job: train a candidate on the worker host, reporting progress and obeying a cancel.

It runs on the `training` queue (`contracts.FINETUNE_QUEUE`), never inside a classification batch:
an inference worker that serves that queue too takes a fine-tune only between classification jobs,
and classification waits while it runs (or a separate `manage.py training_worker` serves it).

The model is written to a temporary directory beside `out` and renamed to `out` only when training,
evaluation and saving have all finished, so a crash or a cancel leaves no half-written model; the
console registers the candidate only once the run says `succeeded` (`dashboard.finetune`).
Every outcome is recorded in the run's Redis hash and the job returns normally: a failed run is
reported, not retried.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from classifier.contracts import FINETUNE_CANCEL_SUFFIX, FINETUNE_PROGRESS_PREFIX

log = logging.getLogger(__name__)

# How often a run writes its per-step figures to Redis at most (the phase changes are always written).
REPORT_EVERY_S = 0.5


class FineTuneCancelled(Exception):
    """Raised from the progress report when someone cancelled the run."""


def finetune_run(run_id: str, base: str, rows: list[list[Any]], parameters: dict[str, Any], out: str) -> str:
    """Fine-tune `base` on `rows` ([text, label id, label name]) into `out`; returns the final status."""
    from classifier.training import train_classifier

    connection = job_connection()
    key = FINETUNE_PROGRESS_PREFIX + run_id
    cancel_key = key + FINETUNE_CANCEL_SUFFIX
    connection.hset(key, mapping={"status": "running", "phase": "starting", "error": ""})
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    last = [0.0]

    def report(phase: str, **figures: Any) -> None:
        if connection.exists(cancel_key):
            raise FineTuneCancelled
        now = time.monotonic()
        if phase == "training" and now - last[0] < REPORT_EVERY_S and figures.get("step") != figures.get("total"):
            return
        last[0] = now
        connection.hset(key, mapping={"phase": phase, **{name: str(value) for name, value in figures.items()}})

    try:
        data = work / "train.csv"
        _rows_write(data, rows)
        metrics = train_classifier(
            base=base,
            data=data,
            out=work / "model",
            epochs=int(parameters.get("epochs", 3)),
            lr=float(parameters.get("lr", 5e-5)),
            batch_size=int(parameters.get("batch_size", 32)),
            max_length=int(parameters.get("max_length", 128)),
            seed=int(parameters.get("seed", 0)),
            val_fraction=float(parameters.get("val_fraction", 0.2)),
            max_seconds=float(parameters["max_seconds"]) if parameters.get("max_seconds") else None,
            progress=False,
            report=report,
        )
        if connection.exists(cancel_key):
            raise FineTuneCancelled
        if target.exists():
            raise FileExistsError(f"{target} exists already; nothing was overwritten")
        (work / "model").rename(target)
    except FineTuneCancelled:
        connection.hset(key, mapping={"status": "cancelled", "phase": "cancelled"})
        log.info("fine-tune %s cancelled", run_id)
        return "cancelled"
    except Exception as error:  # a run's failure is its outcome, told to the console, not a job error
        log.exception("fine-tune %s failed", run_id)
        connection.hset(
            key, mapping={"status": "failed", "phase": "failed", "error": f"{type(error).__name__}: {error}"[:2000]}
        )
        return "failed"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    connection.hset(
        key, mapping={"status": "succeeded", "phase": "done", "output": str(target), "metrics": json.dumps(metrics)}
    )
    log.info("fine-tune %s saved %s: held-out accuracy %.4f", run_id, target, metrics["validation"]["accuracy"])
    return "succeeded"


def _rows_write(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "label_name"])
        writer.writerows(rows)


def job_connection() -> Any:
    """The running RQ job's Redis connection (the queue's), or the process's when called outside a job."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        return job.connection
    from dashboard.queue import redis_connection

    return redis_connection()
