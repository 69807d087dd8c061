"""The shadow job: run a candidate version on chosen items and keep its answers beside them (`shadow_*`).

Nobody's results change: only `shadow_*` attributes are written. It runs on the `training` queue,
like fine-tuning, so it never shares a classification batch; the candidate is loaded for the run
and let go after it. The summary (how often the two agree, each one's accuracy against the
people's labels, time per text) is written to the run's Redis hash at the end.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from classifier.contracts import SHADOW_PROGRESS_PREFIX

log = logging.getLogger(__name__)

CHUNK = 256  # items read, classified and written at a time


def shadow_run(run_id: str, version_id: str, source: str, item_ids: list[str]) -> str:
    """Classify `item_ids` with the version at `source`; returns the final status."""
    from classifier.engine import load_engine
    from classifier.finetune import job_connection
    from classifier.jobs import engine_loaded
    from dashboard.aws import dynamodb

    connection = job_connection()
    key = SHADOW_PROGRESS_PREFIX + run_id
    connection.hset(key, mapping={"status": "running", "phase": "loading", "done": "0", "total": str(len(item_ids))})
    tally = _Tally()
    try:
        engine = load_engine(source)
        # The serving engine of this worker, when it has one, is timed on the same texts: a fair
        # latency comparison on one host. Its answers are not written (the items' own results stand).
        serving = engine_loaded()
        connection.hset(key, "phase", "classifying")
        for start in range(0, len(item_ids), CHUNK):
            found = dynamodb.items_get_many(item_ids=item_ids[start : start + CHUNK])
            items = [found[i] for i in item_ids[start : start + CHUNK] if i in found]
            began = time.perf_counter()
            outcomes = engine.predict_safe([item["text"] for item in items])
            per_text_ms = (time.perf_counter() - began) * 1000 / max(1, len(items))
            if serving is not None and items:
                began = time.perf_counter()
                serving.predict_safe([item["text"] for item in items])
                tally.serving_ms_total += (time.perf_counter() - began) * 1000
                tally.serving_name = str(getattr(serving, "model_name", ""))
            answers = []
            for item, outcome in zip(items, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    tally.failed += 1
                    continue
                answers.append(
                    {
                        "id": item["id"],
                        "shadow_run": run_id,
                        "shadow_model": version_id,
                        "shadow_label": outcome.label,
                        "shadow_label_name": outcome.label_name,
                        "shadow_confidence": outcome.confidence,
                        "shadow_ms": round(per_text_ms, 3),
                    }
                )
                tally.add(item, outcome.label_name, per_text_ms)
            dynamodb.items_shadow_set(answers=answers)
            connection.hset(key, "done", str(min(len(item_ids), start + CHUNK)))
    except Exception as error:  # the run's outcome, told to the console; nobody's result was touched
        log.exception("shadow run %s failed", run_id)
        connection.hset(
            key, mapping={"status": "failed", "phase": "failed", "error": f"{type(error).__name__}: {error}"[:2000]}
        )
        return "failed"
    connection.hset(key, mapping={"status": "succeeded", "phase": "done", "summary": json.dumps(tally.summary())})
    return "succeeded"


class _Tally:
    """The comparison, counted as answers come: agreement, and each model's accuracy on labelled items."""

    def __init__(self) -> None:
        self.compared = self.differ = self.failed = 0
        self.labelled = self.current_right = self.candidate_right = 0
        self.current_models: dict[str, int] = {}
        self.ms_total = 0.0
        self.serving_ms_total = 0.0
        self.serving_name = ""
        self.differing: list[str] = []

    def add(self, item: dict[str, Any], label_name: str, ms: float) -> None:
        self.compared += 1
        self.ms_total += ms
        current = item.get("model") or ""
        self.current_models[current] = self.current_models.get(current, 0) + 1
        if label_name != item.get("label_name"):
            self.differ += 1
            self.differing.append(item["id"])
        truth = item.get("human_label_name")
        if truth:
            self.labelled += 1
            self.current_right += truth == item.get("label_name")
            self.candidate_right += truth == label_name

    def summary(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "differ": self.differ,
            "failed": self.failed,
            "labelled": self.labelled,
            "current_right": self.current_right,
            "candidate_right": self.candidate_right,
            "current_models": self.current_models,
            "candidate_ms_per_text": self.ms_total / self.compared if self.compared else None,
            # The worker's own serving model on the same texts, when the run had one beside it.
            "serving_model": self.serving_name or None,
            "serving_ms_per_text": self.serving_ms_total / self.compared
            if self.serving_name and self.compared
            else None,
            "differing": self.differing,
        }
