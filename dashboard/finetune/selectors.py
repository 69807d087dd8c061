"""Reads of fine-tuning runs: a run brought up to date, with its live figures."""

from __future__ import annotations

from typing import Any

from dashboard.finetune import services
from dashboard.finetune.models import FineTuneRun


def run_view(run: FineTuneRun) -> dict[str, Any]:
    """A run brought up to date, with its live figures: percent done and the time left, where known."""
    run = services.finetune_sync(run)
    progress = services.finetune_progress(run)
    step, total = _number(progress.get("step")), _number(progress.get("total"))
    elapsed = _number(progress.get("elapsed_s"))
    percent = 100.0 if run.status == "succeeded" else (100 * step / total if step is not None and total else 0.0)
    left = elapsed / step * (total - step) if step and total and elapsed is not None else None
    return {
        "run": run,
        "progress": progress,
        "percent": round(min(percent, 100.0), 1),
        "seconds_left": left,
        "loss": _number(progress.get("loss")),
        "live": run.status not in FineTuneRun.FINAL,
    }


def _number(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
