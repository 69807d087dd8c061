"""The API's request and response bodies. Requests are checked by the same cleaners as the pages.

A request model's `before` validator runs the checks in the order the API has always answered them
(a JSON object, then unknown fields, then required fields, then the values), so each body gets the
message it got before the API was described by these models. Limits that follow the settings
(characters, rows, tokens) are written into the document when it is served (`dashboard.api.document`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from dashboard import generation
from dashboard.auth import ApiError
from dashboard.aws.dynamodb import STATUSES
from dashboard.validators import submission_text_clean

ItemStatus = Literal[STATUSES]  # type: ignore[valid-type]
CALLBACK_URL = (
    "Where this work's end is POSTed, signed with `callback_secret` from the answer (docs/webhooks.md). "
    "http(s), to a public address."
)


def _refuse(message: str, fields: dict[str, str] | None = None) -> PydanticCustomError:
    return PydanticCustomError("api", "{message}", {"message": message, "fields": fields or {}})


refuse = _refuse  # for the request models of other API modules


class ApiRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    example: ClassVar[str] = "{}"

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, body: Any) -> Any:
        if not isinstance(body, dict):
            raise _refuse(f"The body must be a JSON object: {cls.example}.")
        unknown = sorted(set(body) - set(cls.model_fields))
        if unknown:
            raise _refuse(f"Unknown field(s): {', '.join(unknown)}.", {k: "unknown field" for k in unknown})
        for name, field in cls.model_fields.items():
            if field.is_required() and name not in body:
                raise _refuse(f"Field '{name}' is required.", {name: "required"})
        return cls.clean(body)

    @classmethod
    def clean(cls, body: dict[str, Any]) -> dict[str, Any]:
        return body


M = TypeVar("M", bound="ApiRequest")


def error_fields(errors: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, str]]:
    """A pydantic error list (its `ErrorDetails`, or ninja's plain dicts) as the API's message and `fields`."""
    fields: dict[str, str] = {}
    messages: list[str] = []
    for error in errors:
        if error["type"] == "api":
            messages.append(error["ctx"]["message"])
            fields |= error["ctx"]["fields"]
            continue
        name = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
        fields[name] = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        messages.append(f"{name}: {fields[name]}")
    return " ".join(messages), fields


def request_parse(model: type[M], body: Any) -> M:
    """The body as `model`, or ApiError(400) naming each field that is wrong."""
    try:
        return model.model_validate(body)
    except PydanticValidationError as error:
        message, fields = error_fields(error.errors(include_url=False))
        raise ApiError(400, message, **({"fields": fields} if fields else {})) from None


# --- Requests --------------------------------------------------------------------------------


class SubmissionRequest(ApiRequest):
    example: ClassVar[str] = '{"text": "..."}'
    text: str = Field(min_length=1, description="The text to classify (trimmed, NFC-normalised).")
    callback_url: str | None = Field(default=None, description=CALLBACK_URL)

    @classmethod
    def clean(cls, body: dict[str, Any]) -> dict[str, Any]:
        try:
            cleaned = {"text": submission_text_clean(body["text"])}
        except DjangoValidationError as error:
            raise _refuse(error.messages[0], {"text": error.messages[0]}) from None
        return cleaned | callback_url_clean(body)


def callback_url_clean(body: dict[str, Any]) -> dict[str, Any]:
    """`{"callback_url": ...}` checked by the webhooks' SSRF rules, or nothing when none is given."""
    from dashboard.exceptions import WebhookUrlRefused
    from dashboard.webhooks.services import webhook_url_clean

    if body.get("callback_url") is None:
        return {}
    try:
        return {"callback_url": webhook_url_clean(body["callback_url"])}
    except WebhookUrlRefused as error:
        raise _refuse(f"callback_url: {error}", {"callback_url": str(error)}) from None


class GenerateRequest(ApiRequest):
    example: ClassVar[str] = '{"prompt": "..."}'
    prompt: str = Field(min_length=1)
    max_new_tokens: int = Field(default=generation.DEFAULT_MAX_NEW_TOKENS, ge=1)
    temperature: float = Field(default=generation.DEFAULT_TEMPERATURE, ge=0, le=generation.MAX_TEMPERATURE)

    @classmethod
    def clean(cls, body: dict[str, Any]) -> dict[str, Any]:
        try:
            params = generation.generation_params_clean(
                prompt=body["prompt"], max_new_tokens=body.get("max_new_tokens"), temperature=body.get("temperature")
            )
        except DjangoValidationError as error:
            fields = {field: messages[0] for field, messages in error.message_dict.items()}
            raise _refuse(" ".join(fields.values()), fields) from None
        return {"prompt": params.prompt, "max_new_tokens": params.max_new_tokens, "temperature": params.temperature}

    def params(self) -> generation.GenerationParams:
        return generation.GenerationParams(
            prompt=self.prompt, max_new_tokens=self.max_new_tokens, temperature=self.temperature
        )


class BatchItem(Schema):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]{1,128}$", description="Must be new.")
    text: str


class BatchRequest(Schema):
    """Either `texts` (ids are made for you) or `items` (with your own ids, which must be new).

    Checked row by row by `dashboard.csv_upload.parse_api_body`, which lists every problem at once;
    this model describes the body.
    """

    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = None
    items: list[BatchItem] | None = None
    callback_url: str | None = Field(
        default=None, description=CALLBACK_URL + " Gets `batch.complete` or `batch.failed`."
    )


class CancelRequest(ApiRequest):
    """Optional: the body may be empty."""

    example: ClassVar[str] = '{"reason": "..."}'
    reason: str = Field(default="", max_length=500, description="Why; shown with the item to whoever reads it.")


class LabelRequest(ApiRequest):
    example: ClassVar[str] = '{"label": "negative"}'
    label: int | str = Field(description="The item's true label: its id (0, 1, ...) or its name, any case.")


class LabelsRequest(ApiRequest):
    example: ClassVar[str] = '{"ids": ["..."], "label": "negative"}'
    ids: list[str] = Field(min_length=1, description="Items to label (at most LABELS_MAX_SELECTION).")
    label: int | str = Field(description="Their true label: its id or its name.")


class ModelRegisterRequest(ApiRequest):
    example: ClassVar[str] = '{"name": "xlnet-reviews", "source": "/srv/models/xlnet-reviews-3"}'
    name: str = Field(min_length=1, max_length=100, description="The model's name; versions number themselves.")
    source: str = Field(min_length=1, max_length=1000, description="A directory on the worker hosts, or a hub id.")
    training_data: str = Field(default="", max_length=10_000, description="What it was fine-tuned on.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="How it was trained (epochs, lr, ...).")


class TrainingRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    label: int = Field(ge=0)
    label_name: str | None = None


class FineTuneRequest(ApiRequest):
    example: ClassVar[str] = '{"name": "demo", "base": "demo@1", "use_labels": true, "parameters": {"epochs": 2}}'
    name: str = Field(min_length=1, max_length=100, description="The model name its candidate is registered under.")
    base: str = Field(min_length=1, max_length=1000, description="A registered version, a hub id or a directory.")
    rows: list[TrainingRow] = Field(default_factory=list, description="Training rows, as a training CSV has them.")
    use_labels: bool = Field(default=False, description="Also train on every item people labelled.")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="epochs, lr, batch_size, max_length, seed, val_fraction (held out), max_seconds (a budget).",
    )


class RequeueFilter(BaseModel):
    """The results explorer's filters (its status is always `failed` here)."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = None
    model: str | None = None
    created_from: str | None = Field(default=None, description="YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC")
    created_to: str | None = Field(default=None, description="YYYY-MM-DD (the whole day) or YYYY-MM-DDTHH:MM, UTC")
    text: str | None = Field(default=None, description="Reads every item in range: staff only.")


class ShadowRequest(ApiRequest):
    example: ClassVar[str] = '{"labelled": true} or {"ids": ["..."]} or {"filter": {"label": "positive"}}'
    ids: list[str] = Field(default_factory=list, description="Items to run the candidate on.")
    labelled: bool = Field(default=False, description="Every item people labelled.")
    filter: RequeueFilter | None = Field(default=None, description="The done items the explorer's filters match.")

    @classmethod
    def clean(cls, body: dict[str, Any]) -> dict[str, Any]:
        chosen = [name for name in ("ids", "labelled", "filter") if body.get(name)]
        if len(chosen) != 1:
            raise _refuse(
                "Choose the items one way: ids, labelled or filter.", {"body": "one of ids, labelled, filter"}
            )
        return body


class RequeueRequest(ApiRequest):
    """Either `batch_id` or `filter` (an empty filter: every failed item)."""

    example: ClassVar[str] = '{"batch_id": "..."} or {"filter": {"label": "...", "created_from": "..."}}'
    batch_id: str | None = None
    filter: RequeueFilter | None = None

    @classmethod
    def clean(cls, body: dict[str, Any]) -> dict[str, Any]:
        if (body.get("batch_id") is None) == (body.get("filter") is None):
            raise _refuse("Give either 'batch_id' or 'filter'.")
        return body


# --- Responses -------------------------------------------------------------------------------

CALLBACK_SECRET = "With a `callback_url` only: the secret its deliveries are signed with."


class Error(Schema):
    error: str = Field(description="What went wrong, in words a user can act on.")
    fields: dict[str, str] | None = Field(default=None, description="A message per request field that is wrong.")


class TooLarge(Error):
    limit_bytes: int | None = Field(default=None, description="DATA_UPLOAD_MAX_MEMORY_SIZE, when that was passed.")


class RateLimitedError(Error):
    retry_after: int = Field(description="Seconds to wait, as in the Retry-After header.")


class Problem(Schema):
    row: int | None = Field(description="1-based; in a CSV the header is row 1. Null: the whole batch.")
    reason: str


class BatchRejectedError(Error):
    """Nothing was stored. Each problem names its row."""

    problems: list[Problem] | None = None
    more_problems: int | None = Field(default=None, description="problems not listed")


class BatchConflictError(Error):
    """Some ids belong to stored items (or to a batch written at the same time); nothing was stored."""

    ids: list[str] = Field(description="the ids that are taken")


class EndpointFailure(Error):
    endpoint: str = Field(description="The SageMaker endpoint that was asked.")


class SubmissionAccepted(Schema):
    id: str
    status: Literal["queued"]
    callback_secret: str | None = Field(default=None, description=CALLBACK_SECRET)


class Result(Schema):
    """One result item. Every field is present; fields not yet known are null."""

    id: str
    text: str
    status: ItemStatus
    label: int | None
    label_name: str | None
    confidence: float | None = Field(ge=0, le=1)
    probabilities: dict[str, Annotated[float, Field(ge=0, le=1)]] | None = Field(
        description="A done item's probability for every class, by label name: "
        '{"negative": 0.12, "positive": 0.88}. Null until done, on a failed item, and on an item '
        "classified before the console stored every class's probability."
    )
    model: str | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None = Field(description="Why a failed item failed, or who cancelled a cancelled one and why.")
    human_label: int | None = Field(description="The true label a person gave the item (its id), or null.")
    human_label_name: str | None = Field(description="That label's name.")
    labelled_by: str | None = Field(description="Who gave it.")
    labelled_at: datetime | None = Field(description="When.")


class SubmissionResult(Result):
    """A submission's result, when `POST /api/v1/submissions?wait=N` saw it finish in time."""

    callback_secret: str | None = Field(default=None, description=CALLBACK_SECRET)


class BatchCounts(Schema):
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int


class Batch(Schema):
    id: str
    status: Literal["running", "complete"]
    total: int
    counts: BatchCounts
    finished: int = Field(description="done + failed + cancelled")
    percent: float
    source: Literal["csv", "paste", "api"]
    filename: str
    created_at: datetime
    completed_at: datetime | None


class BatchAccepted(Batch):
    url: str = Field(description="Where to follow the batch (also the Location header).")
    callback_secret: str | None = Field(default=None, description=CALLBACK_SECRET)


class BatchProgress(Batch):
    results_csv: str = Field(description="The results as CSV.")


class BatchCancelled(BatchProgress):
    cancelled: int = Field(description="Items this request cancelled.")
    left: int = Field(description="Items it found queued or running that had finished by the time it got to them.")


class RequeueAccepted(Schema):
    queued: int = Field(description="Failed items reset to queued and enqueued.")
    skipped: int = Field(description="Items that had changed meanwhile (running, missing).")
    more: bool = Field(description="More failed items matched than one request takes: send it again for the next ones.")
    limit: int = Field(description="REQUEUE_MAX_ITEMS: the most one request resets.")
    message: str


class Generation(Schema):
    id: str
    prompt: str
    max_new_tokens: int
    temperature: float
    endpoint: str
    status: Literal["done", "failed"]
    generated_text: str | None
    error: str | None
    duration_ms: int | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    stored: bool


class LabelsApplied(Schema):
    labelled: int
    left: int = Field(description="Items not labelled: missing, not done, or changed meanwhile.")


class ReliabilityBin(Schema):
    """Items whose confidence is in [low, high) (the top bin includes 1)."""

    low: float
    high: float
    count: int
    confidence: float = Field(description="The mean confidence in the bin.")
    accuracy: float


class Evaluation(Schema):
    """A model's results judged against people's labels. Every figure rests on `labelled` items."""

    model: str
    labelled: int
    correct: int
    accuracy: float | None
    accuracy_interval: list[float] | None = Field(description="Wilson 95 % interval of the accuracy.")
    macro_f1: float | None
    labels: list[str]
    confusion_matrix: dict[str, dict[str, int]] = Field(description="true label → predicted label → count")
    per_class: dict[str, dict[str, float]]
    reliability: list[ReliabilityBin]
    over_time: list[dict[str, Any]]
    training_distribution: dict[str, float] | None
    first_labelled_at: str | None


class ModelVersionOut(Schema):
    id: str = Field(description="<name>@<version>: what its results carry as `model`.")
    name: str
    version: int
    source: str
    status: Literal["candidate", "serving", "retired"]
    training_data: str
    parameters: dict[str, Any]
    metrics: dict[str, Any] = Field(description="Held-out metrics from its training (its metrics.json).")
    created_at: datetime
    created_by: str | None
    promoted_at: datetime | None
    promoted_by: str | None
    evaluation: str = Field(description="Where its live evaluation is.")


class ModelsList(Schema):
    serving: str | None = Field(description="The version workers are told to serve; null: CLASSIFIER_MODEL.")
    models: list[ModelVersionOut]


class FineTune(Schema):
    id: str
    name: str
    base: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    rows: int
    data: str
    parameters: dict[str, Any]
    phase: str | None = Field(description="What the worker is doing: loading, training, evaluating, saving.")
    step: int | None
    total: int | None
    epoch: int | None
    epochs: int | None
    loss: float | None
    percent: float
    seconds_left: float | None
    error: str = Field(description="Why it failed.")
    candidate: str | None = Field(description="The version it registered, once it succeeded.")
    created_at: datetime
    finished_at: datetime | None


class Shadow(Schema):
    id: str
    candidate: str
    scope: str
    status: Literal["queued", "running", "succeeded", "failed"]
    items: int
    compared: int
    differ: int
    agreement: float | None
    labelled: int = Field(description="Compared items with a person's label: what the accuracies rest on.")
    current_accuracy: float | None
    candidate_accuracy: float | None
    candidate_ms_per_text: float | None
    serving_ms_per_text: float | None
    differing: list[str] = Field(description="Ids of the items the two models label differently.")
    error: str
