"""Cancel and requeue over the API: `/submissions/<id>/cancel`, `/batches/<id>/cancel`, `/requeue`.

Registered before the submissions router: its `/submissions/{path:item_id}` would otherwise take
`<id>/cancel` as an id. Requeue is not under `/submissions/`, where any word may be an item's id.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from ninja import Router

from dashboard import cancel, export, selectors, services
from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed, unavailable
from dashboard.api.schemas import (
    BatchCancelled,
    CancelRequest,
    Error,
    RateLimitedError,
    RequeueAccepted,
    RequeueRequest,
    Result,
    TooLarge,
    request_parse,
)
from dashboard.auth import ApiError, AuthenticatedHttpRequest, api_error
from dashboard.exceptions import ItemConflict, ItemNotFound, QueueUnavailable, StoreUnavailable
from dashboard.explorer import ExplorerForm
from dashboard.validators import item_id_valid

router = Router()

FORM_TYPES = {"multipart/form-data", "application/x-www-form-urlencoded"}
CANCEL_BODY = json_request(CancelRequest)
CANCEL_BODY["requestBody"]["required"] = False


def _optional_json(request: HttpRequest, example: str) -> Any:
    """The JSON body, or {} when there is none; ApiError for another content type or bad JSON.

    An empty form (what some clients send with a bare POST) counts as no body.
    """
    refused = ApiError(415, f"Send no body, or application/json: {example}.")
    if request.content_type in FORM_TYPES:  # read as a form already (the CSRF check): not by its body
        if request.POST or request.FILES:
            raise refused
        return {}
    body = request.body
    if request.content_type != "application/json":
        if not body:
            return {}
        raise refused
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body is not valid JSON.") from None


@router.post(
    "/submissions/{item_id}/cancel",
    url_name="api_submission_cancel",
    summary="Cancel a queued or running submission",
    description=(
        "The item becomes `cancelled` (terminal), with who cancelled it and why in `error`. A worker "
        "that is classifying it drops its result. A finished item is a 409; someone else's is a 404."
    ),
    operation_id="cancelSubmission",
    tags=["submissions"],
    openapi_extra=CANCEL_BODY,
    response={
        200: Result,
        400: Error,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        404: Error,
        409: Error,
        413: TooLarge,
        415: Error,
        503: Error,
    },
)
def api_submission_cancel(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    body = request_parse(CancelRequest, _optional_json(request, CancelRequest.example))
    if not item_id_valid(item_id):
        return api_error(404, "No submission with that id.")
    try:
        item = cancel.submission_cancel(item_id=item_id, user=request.user, reason=body.reason)
    except ItemNotFound:
        return api_error(404, "No submission with that id.")
    except ItemConflict as error:
        return api_error(409, str(error))
    except StoreUnavailable as error:
        raise unavailable(f"Not cancelled: {error}") from None
    return JsonResponse(selectors.submission_public(item))


def _no_such_submission(request: HttpRequest, item_id: str) -> HttpResponse:
    # A GET here is a read of the item "<id>/cancel", as it was before this route: no id has a slash.
    return api_error(404, "No submission with that id.")


router.add_api_operation("/submissions/{item_id}/cancel", ["GET"], _no_such_submission, include_in_schema=False)
not_allowed(router, "/submissions/{item_id}/cancel", allowed=["POST", "GET"], view=api_submission_cancel)


@router.post(
    "/batches/{batch_id}/cancel",
    url_name="api_batch_cancel",
    summary="Cancel a batch's queued and running items",
    description="Finished items keep their results. A batch with nothing queued or running is a 409.",
    operation_id="cancelBatch",
    tags=["batches"],
    openapi_extra=CANCEL_BODY,
    response={
        200: BatchCancelled,
        400: Error,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        404: Error,
        409: Error,
        413: TooLarge,
        415: Error,
        503: Error,
    },
)
def api_batch_cancel(request: AuthenticatedHttpRequest, batch_id: str) -> HttpResponse:
    body = request_parse(CancelRequest, _optional_json(request, CancelRequest.example))
    batch = selectors.batch_get(batch_id=batch_id)
    if batch is None or not cancel.batch_cancel_allowed(batch=batch, user=request.user):
        return api_error(404, "No batch with that id.")
    try:
        outcome = cancel.batch_cancel(batch=batch, user=request.user, reason=body.reason)
        if not outcome["cancelled"] and not outcome["left"]:
            return api_error(409, "The batch has nothing queued or running to cancel.")
        counts = services.batch_progress(batch=batch)
    except StoreUnavailable as error:
        raise unavailable(f"Not cancelled: {error}") from None
    return JsonResponse(
        selectors.batch_public(batch, counts)
        | {
            "results_csv": reverse("api_batch_results", args=[batch.id]),
            "cancelled": len(outcome["cancelled"]),
            "left": len(outcome["left"]),
        }
    )


not_allowed(router, "/batches/{batch_id}/cancel", allowed=["POST"], view=api_batch_cancel)


@router.post(
    "/requeue",
    url_name="api_requeue",
    summary="Requeue the failed items of a batch, or those matching the explorer's filters",
    description=(
        "At most REQUEUE_MAX_ITEMS per request (`more` says when more matched). Each item is charged "
        "against the submission rate limit, as a re-run is. A text filter is for staff only."
    ),
    operation_id="requeueFailed",
    tags=["submissions"],
    openapi_extra=json_request(RequeueRequest),
    response={
        202: RequeueAccepted,
        400: Error,
        401: UNAUTHORIZED,
        403: Error,
        404: Error,
        413: TooLarge,
        415: Error,
        429: RateLimitedError,
        503: Error,
    },
)
def api_requeue(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.content_type != "application/json":
        raise ApiError(415, f"Send application/json: {RequeueRequest.example}.")
    try:
        raw = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body is not valid JSON.") from None
    body = request_parse(RequeueRequest, raw)
    kwargs: dict[str, Any] = {}
    if body.batch_id is not None:
        batch = selectors.batch_get(batch_id=body.batch_id)
        if batch is None or not cancel.batch_cancel_allowed(batch=batch, user=request.user):
            return api_error(404, "No batch with that id.")
        kwargs["batch_id"] = batch.id
    else:
        assert body.filter is not None  # RequeueRequest.clean insists on one of the two
        form = ExplorerForm({k: v for k, v in body.filter.model_dump().items() if v is not None})
        if not form.is_valid():
            fields = {f"filter.{name}": str(errors[0]) for name, errors in form.errors.items()}
            return api_error(400, " ".join(fields.values()), fields=fields)
        kwargs["item_filter"] = form.item_filter()
        if export.export_needs_staff(kwargs["item_filter"]) and not request.user.is_staff:
            return api_error(403, "A text filter reads every item in the table: staff only.")
    try:
        outcome = services.failed_requeue(user=request.user, **kwargs)
    except (StoreUnavailable, QueueUnavailable) as error:
        raise unavailable(f"Not requeued: {error}") from None
    return JsonResponse(
        {
            "queued": len(outcome["queued"]),
            "skipped": len(outcome["skipped"]),
            "more": outcome["more"],
            "limit": outcome["limit"],
            "message": services.requeue_message(outcome),
        },
        status=202,
    )


not_allowed(router, "/requeue", allowed=["POST"], view=api_requeue)
