"""Names the web process and the inference worker must agree on, defined once for both sides.

The web tier enqueues jobs by dotted path and never imports torch, and the worker never imports
Django, so neither can import the other's modules for these: this module imports the standard
library only (a test holds it to that).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The classify job RQ runs, by dotted path: the web enqueues it, the micro-batcher and the
# reconciler recognise waiting jobs by it.
CLASSIFY_JOB = "classifier.jobs.classify_items"

# The job meta key where a job that could not write its outcomes keeps them for its retry; the
# reconciler counts the items in it as still carried by that job.
STASH_KEY = "unwritten_outcomes"

# The job meta key of its items' texts ({item id: text}), when the web had them in hand and they are
# short, so the worker can run the model before it touches a lone item, then claim it and write its
# outcome in one conditional request (`classifier.jobs`). The stored item still decides: one that is
# no longer queued with that text goes through the usual claim, and is classified on its stored
# text. Meta rather than an argument: a worker that predates it ignores it. Bulk submissions leave
# it out, so the queue never holds a batch's worth of text.
TEXTS_KEY = "texts"
TEXTS_MAX_CHARS = 16_384

# Redis hash per worker (`inference:worker:<rq worker name>`): what the worker says about its model
# and the instance it runs on, read by the fleet panel and the power policy.
WORKER_META_PREFIX = "inference:worker:"
# Which registered model version the workers serve: JSON {"id": "<name>@<version>", "source": "<dir
# or hub id>"}, written by a promote (dashboard.registry). A worker reads it between jobs and loads
# that version when it differs from its own; absent, workers serve CLASSIFIER_MODEL as configured.
SERVING_MODEL_KEY = "models:serving"
# Also in a worker's hash: why the last version it was told to serve did not load (it kept its own).
MODEL_LOAD_ERROR_FIELD = "model_load_error"
# Fine-tuning runs as RQ jobs on their own queue (settings.FINETUNE_QUEUE), served by the worker hosts.
# Its progress is a Redis hash per run, `finetune:<run id>` (FINETUNE_FIELDS, as strings), and a run
# stops at its next step once `finetune:<run id>:cancel` exists.
FINETUNE_JOB = "classifier.finetune.finetune_run"
FINETUNE_PROGRESS_PREFIX = "finetune:"
FINETUNE_CANCEL_SUFFIX = ":cancel"
FINETUNE_FIELDS = (
    "status",
    "phase",
    "step",
    "total",
    "epoch",
    "epochs",
    "loss",
    "elapsed_s",
    "error",
    "output",
    "metrics",
)
# A shadow comparison runs a candidate on chosen items (`classifier.shadow`), on the same queue as
# fine-tuning; its progress and, at the end, its summary are a Redis hash `shadow:<run id>`.
SHADOW_JOB = "classifier.shadow.shadow_run"
SHADOW_PROGRESS_PREFIX = "shadow:"
# The engine's counters since load, published in that hash: a batch that ran out of device memory
# and was halved, and a text that did not fit even alone.
ENGINE_STAT_FIELDS = ("out_of_memory_splits", "out_of_memory_failures")
# Device memory in bytes, also in that hash (empty on a CPU worker, which publishes `rss_bytes`).
CUDA_MEMORY_FIELDS = (
    "memory_allocated_bytes",
    "max_memory_allocated_bytes",
    "memory_free_bytes",
    "memory_total_bytes",
)

# The Redis pub/sub channel a result is announced on once it is stored (`result:<item id>`): the
# worker publishes, a long poll (`GET /api/v1/submissions/<id>?wait=N`) listens (dashboard/result_events.py).
RESULT_CHANNEL_PREFIX = "result:"


def result_channel(item_id: str) -> str:
    return RESULT_CHANNEL_PREFIX + item_id


# How every timestamp is stored: UTC, microseconds, `Z`. Fixed width, so the strings sort as times
# (DynamoDB's range keys and `created_at < cutoff` comparisons rely on it).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timestamp_of(moment: datetime) -> str:
    """`moment` in the stored form; a naive datetime is taken as UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime(TIMESTAMP_FORMAT)


def timestamp_now() -> str:
    """Now in the stored form."""
    return timestamp_of(datetime.now(UTC))


def timestamp_parse(value: object) -> datetime | None:
    """A stored timestamp as an aware UTC datetime, or None if it is not one.

    Also reads the forms other writers use (no microseconds, an offset instead of `Z`): a timestamp
    in another format is the same moment, never "long ago" nor an error.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The job meta key of the log context a classify job carries from where it was enqueued, so the
# worker's lines name the same request (docs/operations.md, "Logs"). Every key is optional:
#   {"request_id": the one request all its items came from,
#    "item_request_ids": {item id: request id} when its items came from several (a group commit),
#    "user": who enqueued it, "batch_id": the batch its items belong to}
LOG_CONTEXT_KEY = "log_context"


def log_context_request_id(context: Mapping[str, Any], item_id: str) -> str | None:
    """The request an item of a job with this log context was submitted in, if known."""
    return (context.get("item_request_ids") or {}).get(item_id) or context.get("request_id")


def log_context_fields(context: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a job's log lines carry: its `request_id` (or `request_ids`), `user` and `batch_id`."""
    fields: dict[str, Any] = {name: context[name] for name in ("request_id", "user", "batch_id") if context.get(name)}
    if "request_id" not in fields and context.get("item_request_ids"):
        fields["request_ids"] = sorted(set(context["item_request_ids"].values()))
    return fields


def model_display_name(model: str) -> str:
    """What results record as their `model`: a hub id as given, a local directory by its name.

    An absolute path says where a file lies on one host, not which model answered; the directory
    name (e.g. `demo`, `xlnet-sentiment-v3`) is what people filter by in the explorer. Here, not in
    the engine, so the web tier names the configured model the same way without importing torch.
    """
    path = Path(model)
    return path.resolve().name if path.is_dir() else model
