"""Prometheus metrics: every counter and histogram the console moves, defined once, here.

Names follow Prometheus' conventions: a `console_` prefix, base units (`_seconds`, `_bytes`), `_total`
on counters. What each means, and how to scrape it: docs/operations.md, "Metrics".

The package is one concept per module, like `dashboard.power`:
  (here)      the families moved in code: submissions, batches, inference, power actions, webhooks
  store       gauges read at scrape time from Redis, DynamoDB and the fleet (queue depth, items by status)
  gpu         the GPU's memory and utilisation through NVML, on the inference worker
  exposition  the web tier's `/metrics`: who may read it, gunicorn's multiprocess mode
  server      the port the inference worker and `power_tick` serve their own metrics on

This module imports prometheus_client only, never Django or torch: the web tier, the worker's job
functions and tests all import it. Families moved only on the worker carry a `model` label, so a
web process (which never classifies) exposes no empty series for them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCHES_ACCEPTED",
    "BATCHES_REFUSED",
    "INFERENCE_BATCH_SECONDS",
    "INFERENCE_TEXT_SECONDS",
    "MICROBATCH_SIZE",
    "MODEL_LOAD_SECONDS",
    "POWER_ACTIONS",
    "POWER_TICKS",
    "SUBMISSIONS_ACCEPTED",
    "SUBMISSIONS_REFUSED",
    "SUBMIT_SECONDS",
    "TEXTS_CLASSIFIED",
    "WEBHOOK_DELIVERIES",
    "inference_observe",
    "model_loaded",
    "power_action_count",
    "texts_classified_count",
]

# --- submissions: counted by the views that take them (dashboard.metrics.submissions) ------------
SUBMISSIONS_ACCEPTED = Counter("console_submissions_accepted_total", "Single submissions accepted (queued).")
SUBMISSIONS_REFUSED = Counter(
    "console_submissions_refused_total",
    "Single submissions refused, by reason: invalid, too_large, unsupported_media_type, rate_limited, "
    "unavailable (DynamoDB or Redis), error.",
    ["reason"],
)
BATCHES_ACCEPTED = Counter("console_batches_accepted_total", "Batches accepted (stored and queued).")
BATCHES_REFUSED = Counter(
    "console_batches_refused_total",
    "Batches refused, by reason: invalid, too_large, unsupported_media_type, conflict, rate_limited, "
    "unavailable, error.",
    ["reason"],
)
# A single submission waits for its group's write (dashboard/submit_batcher.py): usually milliseconds.
SUBMIT_SECONDS = Histogram(
    "console_submit_duration_seconds",
    "Time to accept or refuse a submission or batch request (a submission's `?wait` not included).",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# --- inference: moved by classifier.jobs on the worker -------------------------------------------
MICROBATCH_SIZE = Histogram(
    "console_microbatch_size",
    "Texts per forward pass (a job's own items plus the waiting ones it took, classifier/microbatch.py).",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
INFERENCE_BATCH_SECONDS = Histogram(
    "console_inference_batch_seconds",
    "Seconds the engine took for one micro-batch.",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
INFERENCE_TEXT_SECONDS = Histogram(
    "console_inference_text_seconds",
    "Engine seconds per text: each micro-batch's time divided by its texts, observed once per batch.",
    ["model"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
TEXTS_CLASSIFIED = Counter(
    "console_texts_classified_total",
    "Texts the worker classified, by outcome: done, or failed (the model could not classify it).",
    ["model", "outcome"],
)
MODEL_LOAD_SECONDS = Gauge(
    "console_model_load_seconds",
    "Seconds the worker took to load its model at start.",
    ["model", "device"],
    multiprocess_mode="max",
)

# --- power: moved by dashboard.power.control, in power_tick and in the web tier ------------------
POWER_ACTIONS = Counter(
    "console_power_actions_total",
    "Instance starts, stops and reboots, by who asked (system or staff) and outcome (ok, error).",
    ["action", "actor", "outcome"],
)
POWER_TICKS = Counter(
    "console_power_ticks_total", "Power checks `power_tick` made, by outcome (ok, busy, error).", ["outcome"]
)

# --- webhooks: moved by the webhook delivery jobs -------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "console_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, retrying, failed, refused).",
    ["outcome"],
)


def inference_observe(*, model: str, texts: int, seconds: float) -> None:
    """One micro-batch of `texts` went through the engine in `seconds`."""
    if texts <= 0:
        return
    MICROBATCH_SIZE.labels(model=model).observe(texts)
    INFERENCE_BATCH_SECONDS.labels(model=model).observe(seconds)
    INFERENCE_TEXT_SECONDS.labels(model=model).observe(seconds / texts)


def texts_classified_count(*, model: str, done: int, failed: int) -> None:
    if done:
        TEXTS_CLASSIFIED.labels(model=model, outcome="done").inc(done)
    if failed:
        TEXTS_CLASSIFIED.labels(model=model, outcome="failed").inc(failed)


def model_loaded(*, model: str, device: str, seconds: float) -> None:
    if seconds == seconds and seconds >= 0:  # an engine with nothing to load (SageMaker's) says NaN
        MODEL_LOAD_SECONDS.labels(model=model, device=device).set(seconds)


def power_action_count(*, action: str, actor: str, outcome: str) -> None:
    POWER_ACTIONS.labels(action=action, actor=actor, outcome=outcome).inc()
