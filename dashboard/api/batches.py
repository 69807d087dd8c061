"""`/api/v1/batches`: many texts at once as JSON, CSV or an uploaded file; progress; results as CSV."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from ninja import Router

from dashboard import csv_upload, selectors, services
from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed, unavailable
from dashboard.api.schemas import (
    BatchAccepted,
    BatchConflictError,
    BatchProgress,
    BatchRejectedError,
    BatchRequest,
    Error,
    RateLimitedError,
    TooLarge,
)
from dashboard.auth import ApiError, AuthenticatedHttpRequest, api_error
from dashboard.exceptions import BatchConflict, BatchRejected, QueueUnavailable, StoreUnavailable, WebhookUrlRefused
from dashboard.metrics.submissions import submission_counted
from dashboard.ratelimit import submissions_charge
from dashboard.views.results import csv_download
from dashboard.webhooks.services import webhook_url_clean
from dashboard.webhooks.signing import callback_secret

router = Router(tags=["batches"])

CSV_BODY = {"schema": {"type": "string", "description": "UTF-8 CSV with a `text` and optional `id` column"}}
FILE_BODY = {
    "schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}
}


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # as Django reads it: no body


def _callback_url(request: HttpRequest, body: object = None) -> str:
    """The batch's callback URL (a JSON field, or `?callback_url=` beside a CSV), vetted; "" for none."""
    raw = body.pop("callback_url", None) if isinstance(body, dict) else request.GET.get("callback_url")
    if raw is None:
        return ""
    try:
        return webhook_url_clean(raw)
    except WebhookUrlRefused as error:
        raise ApiError(400, f"callback_url: {error}", fields={"callback_url": str(error)}) from None


def _parse(request: HttpRequest) -> tuple[csv_upload.ParsedBatch, str, str]:
    """The batch in the request, its file name and callback URL, refused by its declared size before a byte is read.

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE (a test may set it below the batch limit) raises
    RequestDataTooBig, which dashboard.middleware answers with a JSON 413.
    """
    length, limit = _content_length(request), settings.BATCH_MAX_BYTES
    if request.content_type == "multipart/form-data":
        if length > limit + settings.BATCH_FRAMING_BYTES:  # the framing around a file at the limit
            raise ApiError(413, f"The request is {length:,} bytes; the limit is {limit:,}.")
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError(400, "Send the CSV as a multipart field named 'file'.", fields={"file": "required"})
        size = upload.size or 0  # None only for a file no upload handler made; the length was checked above
        if size > limit:
            raise ApiError(413, f"The file is {size:,} bytes; the limit is {limit:,}.")
        return csv_upload.parse_csv(upload), upload.name or "", _callback_url(request)
    if length > limit:
        raise ApiError(413, f"The request is {length:,} bytes; the limit is {limit:,}.")
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "The body is not valid JSON.") from None
        callback_url = _callback_url(request, body)
        return csv_upload.parse_api_body(body), "", callback_url
    if request.content_type in {"text/csv", "application/csv"}:
        parsed = csv_upload.parse_csv(request)  # read from the request stream as it is parsed
        _discard_rest(request)
        return parsed, "", _callback_url(request)
    raise ApiError(415, 'Send application/json {"texts": [...]}, text/csv, or multipart/form-data with a file.')


def _discard_rest(request: HttpRequest) -> None:
    """Read what the client is still sending of a body the parser stopped reading, without keeping it.

    Its size is within the limit (checked above). Left unread, the server closes the connection with
    data pending (gunicorn drains 64 KiB at most), and a client still sending gets a reset connection
    instead of the answer that says what is wrong.
    """
    while request.read(64 * 1024):
        pass


def _rejected(problems: list[tuple[int | None, str]], message: str, total: int | None = None) -> ApiError:
    shown = problems[: csv_upload.MAX_PROBLEMS_SHOWN]
    return ApiError(
        400,
        message,
        problems=[{"row": row, "reason": reason} for row, reason in shown],
        more_problems=(len(problems) if total is None else total) - len(shown),
    )


@router.post(
    "/batches",
    url_name="api_batches",
    summary="Submit many texts at once",
    description=(
        "At most BATCH_MAX_ROWS rows and BATCH_MAX_BYTES bytes. Everything is validated first; if any row "
        "is bad nothing is stored and every problem is listed. Ids you give must be new: an id that is "
        "taken is never overwritten (409)."
    ),
    operation_id="createBatch",
    openapi_extra=json_request(BatchRequest, **{"text/csv": CSV_BODY, "multipart/form-data": FILE_BODY}),
    response={
        202: BatchAccepted,
        400: BatchRejectedError,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        409: BatchConflictError,
        413: TooLarge,
        415: Error,
        429: RateLimitedError,
        503: Error,
    },
)
@submission_counted(kind="batch")
def api_batches(request: AuthenticatedHttpRequest) -> HttpResponse:
    parsed, filename, callback_url = _parse(request)
    if not parsed.ok:
        message = f"The batch was rejected ({parsed.problem_count} problem(s)); nothing stored."
        raise _rejected(parsed.problems, message, parsed.problem_count)
    submissions_charge(user=request.user, cost=len(parsed.rows))  # counted by items, not requests
    try:
        batch = services.batch_create(
            rows=parsed.rows, source="api", submitted_by=request.user, filename=filename, callback_url=callback_url
        )
    except BatchConflict as error:
        raise ApiError(409, str(error), ids=error.ids) from None
    except BatchRejected as error:
        raise _rejected(error.problems, str(error)) from None
    except (StoreUnavailable, QueueUnavailable) as error:
        raise unavailable(f"Nothing was submitted: {error}") from None
    body = selectors.batch_public(batch, batch.counts) | {"url": reverse("api_batch_detail", args=[batch.id])}
    if callback_url:
        body["callback_secret"] = callback_secret(subject=f"batch:{batch.id}")
    response = JsonResponse(body, status=202)
    response["Location"] = body["url"]
    return response


not_allowed(router, "/batches", allowed=["POST"], view=api_batches)


@router.get(
    "/batches/{batch_id}",
    url_name="api_batch_detail",
    summary="A batch's progress",
    description="Counts by status; `status` is `complete` when nothing is queued or running.",
    operation_id="getBatch",
    response={200: BatchProgress, 401: UNAUTHORIZED, 404: Error, 503: Error},
)
def api_batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = selectors.batch_get(batch_id=batch_id)
    if batch is None:
        return api_error(404, "No batch with that id.")
    try:
        counts = services.batch_progress(batch=batch)
    except StoreUnavailable as error:
        return api_error(503, str(error))
    return JsonResponse(
        selectors.batch_public(batch, counts) | {"results_csv": reverse("api_batch_results", args=[batch.id])}
    )


not_allowed(router, "/batches/{batch_id}", allowed=["GET"], view=api_batch_detail)


@router.get(
    "/batches/{batch_id}/results.csv",
    url_name="api_batch_results",
    summary="A batch's results as CSV (streamed)",
    operation_id="getBatchResults",
    openapi_extra={
        "responses": {
            "200": {
                "description": "UTF-8 CSV with a byte-order mark, one row per item. Cells starting with "
                "= + - @ tab or CR are prefixed with ' so spreadsheets do not run them as formulas.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
    response={401: UNAUTHORIZED, 404: Error},
)
def api_batch_results(request: HttpRequest, batch_id: str) -> HttpResponseBase:
    batch = selectors.batch_get(batch_id=batch_id)
    if batch is None:
        return api_error(404, "No batch with that id.")
    return csv_download(selectors.batch_items(batch_id=batch.id), name=f"batch-{batch.id[:8]}")


not_allowed(router, "/batches/{batch_id}/results.csv", allowed=["GET"], view=api_batch_results)
