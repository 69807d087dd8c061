"""`CLASSIFIER_BACKEND=sagemaker`: classify through our endpoint instead of a local model.

`SageMakerEngine` has the part of `classifier.engine.Engine` that the job uses (`predict_safe`,
`model_name`, `id2label`), so `classifier.jobs.classify_items` keeps one path: claim items, predict, write
`done` or `failed`. The endpoint runs `classifier/serve.py`, which answers one prediction (or one
error) per text, on SageMaker or as a local endpoint (`dashboard.endpoints`, SAGEMAKER_BACKEND).
Runs in the worker, where Django is set up; it never imports torch, so a
worker for this backend needs no GPU.

Which failures fail items: only the permanent ones, where the endpoint looked at the texts and could
not classify them (a ModelError for this input, an answer of the wrong shape, one text's error).
Throttling, timeouts, an endpoint not yet InService and service errors are retried with backoff
for up to SAGEMAKER_RETRY_SECONDS per job; if they last longer, the job fails instead of the items
(see `predict_safe`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from classifier.postprocess import Prediction
from dashboard import endpoints
from dashboard.aws import sagemaker_runtime
from dashboard.endpoints.demand import endpoint_wait_ready
from dashboard.endpoints.retry import endpoint_invoke_retrying
from dashboard.exceptions import EndpointError, EndpointModelError


class SageMakerEngine:
    device = "sagemaker"
    dtype = "n/a"
    load_seconds = 0.0

    def __init__(
        self,
        endpoint: str,
        *,
        batch_size: int = 32,
        retry_seconds: float = 120.0,
        start_wait_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.start_wait_seconds = start_wait_seconds
        self.clock = clock
        self.sleep = sleep
        self.model_name = f"sagemaker:{endpoint}"
        # The class names of the endpoint's model, as its latest answer gave them (the console has no
        # copy of the model's config). Empty until it answers, or if it runs a serve.py that does not
        # name them: the job then names each class `LABEL_<id>`.
        self.id2label: dict[int, str] = {}

    def predict_safe(self, texts: Sequence[str]) -> list[Prediction | Exception]:
        """One outcome per text, in order. A permanently failed call fails only the texts it carried.

        A retryable failure that outlasts the retry budget (one budget for all of this job's calls,
        so a job stays well inside its RQ timeout) is raised, and the job fails with its items still
        `running` under its claim. That is the path a job whose result write fails already takes
        (classifier/jobs.py): RQ runs the job again after a pause, the new run takes its items back,
        and if every run fails the reconciler queues them again and, after RECONCILE_MAX_RECOVERIES,
        fails them saying classification was interrupted. Failing them here instead would record
        "the model could not classify this text" for texts no model has looked at. Chunks already
        answered in this run are asked again by the next: classifying is idempotent, and the
        endpoint was failing anyway.
        """
        deadline = self.clock() + self.retry_seconds
        outcomes: list[Prediction | Exception] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            try:
                outcomes.extend(self._invoke(chunk, deadline=deadline))
            except EndpointError as exc:
                if exc.retryable:
                    raise
                outcomes.extend([exc] * len(chunk))
            except Exception as exc:  # the reason lands on each item; the job must not die with items held
                outcomes.extend([exc] * len(chunk))
        return outcomes

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        outcomes = self.predict_safe(texts)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return outcomes  # type: ignore[return-value]  # no exceptions left, checked above

    def _invoke(self, texts: list[str], *, deadline: float) -> list[Prediction | Exception]:
        # A scaled-to-zero endpoint is started and waited for, with its own (longer) budget: the job's items
        # wait as they do for a stopped GPU instance. A pause or a start that outlasts it fails the run
        # (retryable: the items stay claimed for RQ's next run), never the items.
        endpoint_wait_ready(
            name=self.endpoint,
            deadline=max(deadline, self.clock() + self.start_wait_seconds),
            clock=self.clock,
            sleep=self.sleep,
        )
        answer = endpoint_invoke_retrying(
            backend=endpoints.backend(),
            name=self.endpoint,
            body=json.dumps({"inputs": texts}).encode(),
            deadline=deadline,
            clock=self.clock,
            sleep=self.sleep,
        )
        id2label, outcomes = answer_parse(answer.body, expected=len(texts), endpoint=self.endpoint)
        self.id2label = id2label
        return outcomes


def answer_parse(body: bytes, *, expected: int, endpoint: str) -> tuple[dict[int, str], list[Prediction | Exception]]:
    """`classifier/serve.py`'s answer: its class names by id (empty if it gives none), and one
    Prediction (or the per-text error) per text, checked for shape."""
    answer = sagemaker_runtime.answer_json(body, endpoint=endpoint)
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        raise EndpointModelError(
            f"Endpoint {endpoint!r} answered without a predictions list: {json.dumps(answer)[:200]}. "
            "Is it running classifier/serve.py?"
        )
    if len(predictions) != expected:
        raise EndpointModelError(f"Endpoint {endpoint!r} returned {len(predictions)} predictions for {expected} texts")
    labels = answer.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        raise EndpointModelError(f"Endpoint {endpoint!r} answered with malformed labels: {labels!r}"[:300])
    return dict(enumerate(labels)), [_prediction(entry, endpoint, classes=len(labels)) for entry in predictions]


def _prediction(entry: Any, endpoint: str, *, classes: int) -> Prediction | Exception:
    if isinstance(entry, dict) and "error" in entry:
        return EndpointModelError(f"the endpoint could not classify it: {entry['error']}")
    try:
        prediction = Prediction(
            label=int(entry["label"]),
            label_name=str(entry["label_name"]),
            confidence=float(entry["confidence"]),
            probabilities=[float(p) for p in entry["probabilities"]],
        )
    except (KeyError, TypeError, ValueError):
        return _malformed(entry, endpoint)
    # Every done item stores every class's probability, so an answer without them all is not a result.
    count = len(prediction.probabilities)
    if not 0 <= prediction.label < count or (classes and count != classes):
        return _malformed(entry, endpoint)
    return prediction


def _malformed(entry: Any, endpoint: str) -> EndpointModelError:
    return EndpointModelError(f"Endpoint {endpoint!r} answered with a malformed prediction: {entry!r}"[:300])


def sagemaker_engine() -> SageMakerEngine:
    """The engine for the configured classifier endpoint (settings CLASSIFIER_BACKEND=sagemaker)."""
    from django.conf import settings

    return SageMakerEngine(
        settings.SAGEMAKER_CLASSIFIER_ENDPOINT,
        batch_size=settings.SAGEMAKER_CLASSIFIER_BATCH,
        retry_seconds=settings.SAGEMAKER_RETRY_SECONDS,
        start_wait_seconds=settings.SAGEMAKER_START_WAIT_SECONDS,
    )
