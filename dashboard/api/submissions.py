"""`/api/v1/submissions`: one text in, one result out."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from dashboard import selectors, services
from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed, unavailable
from dashboard.api.schemas import (
    Error,
    RateLimitedError,
    Result,
    SubmissionAccepted,
    SubmissionRequest,
    SubmissionResult,
    TooLarge,
    request_parse,
)
from dashboard.auth import ApiError, api_error
from dashboard.exceptions import ItemNotFound, QueueUnavailable, StoreUnavailable
from dashboard.metrics.submissions import submission_counted
from dashboard.ratelimit import submissions_charge
from dashboard.result_events import PENDING, submission_wait
from dashboard.validators import item_id_valid
from dashboard.webhooks.signing import callback_secret

router = Router(tags=["submissions"])


def json_body(request: HttpRequest, *, example: str, too_big: str | None = None) -> object:
    """The request's JSON, or ApiError: 415 for another content type, 400 for a body that is not JSON.

    Past DATA_UPLOAD_MAX_MEMORY_SIZE the answer is `too_big`, or dashboard.middleware's JSON 413.
    """
    if request.content_type != "application/json":
        raise ApiError(415, f"Send the {example}.")
    try:
        return json.loads(request.body)
    except RequestDataTooBig:
        if too_big is None:
            raise
        raise ApiError(413, too_big) from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body is not valid JSON.") from None


WAIT_PARAMETER = {
    "name": "wait",
    "in": "query",
    "required": False,
    "description": (
        "Long polling: answer as soon as the item is no longer queued or running, or after this many "
        "seconds with it as it is then (at most SUBMISSION_WAIT_MAX_S, 20 by default). A busy web process "
        "may answer at once; ask again."
    ),
    "schema": {"type": "number", "exclusiveMinimum": 0},
}


SUBMIT_WAIT_PARAMETER = WAIT_PARAMETER | {
    "description": (
        "Submit and wait: after the item is stored and queued, wait up to this many seconds for its result "
        "(at most SUBMISSION_WAIT_MAX_S, 20 by default) and answer 200 with it, or 202 if it is not done "
        "in time. A busy web process may answer 202 at once."
    )
}


def wait_seconds(request: HttpRequest) -> float | None:
    """The `wait` query parameter in seconds, None without one, or ApiError(400) naming the limits."""
    raw = request.GET.get("wait")
    if raw is None:
        return None
    limit = settings.SUBMISSION_WAIT_MAX_S
    message = f"wait must be a number of seconds, more than 0 and at most {limit:g}."
    try:
        seconds = float(raw)
    except ValueError:
        raise ApiError(400, message, fields={"wait": message}) from None
    if not 0 < seconds <= limit:  # also refuses nan; inf is over the limit
        raise ApiError(400, message, fields={"wait": message})
    return seconds


@router.post(
    "/submissions",
    url_name="api_submissions",
    summary="Submit one text for classification",
    description=(
        "Answers 202 with the new item's id once it is stored and queued. With `?wait=N` the request "
        "also waits, as a long poll does, up to N seconds for the result: 200 with the result when it "
        "comes in time, else the same 202 (the item is accepted either way; ask for it by id)."
    ),
    operation_id="createSubmission",
    openapi_extra=json_request(SubmissionRequest) | {"parameters": [SUBMIT_WAIT_PARAMETER]},
    response={
        200: SubmissionResult,
        202: SubmissionAccepted,
        400: Error,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        413: TooLarge,
        415: Error,
        429: RateLimitedError,
        503: Error,
    },
)
def api_submissions(request: HttpRequest) -> HttpResponse:
    accepted = _submission_accept(request)
    wait = wait_seconds(request) if accepted.status_code == 202 else None
    return accepted if wait is None else _submission_awaited(accepted, wait_s=wait)


@submission_counted(kind="submission")
def _submission_accept(request: HttpRequest) -> HttpResponse:
    """Store and queue the submission: the part of the POST counted and timed as a submission (a
    `wait` after it is not submit latency), and where a bad `wait` refuses it before anything is stored."""
    wait_seconds(request)
    limit, chars = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.SUBMISSION_MAX_CHARS
    too_big = f"The body is larger than {limit:,} bytes; a text may have up to {chars:,} characters."
    body = json_body(request, example='submission as application/json: {"text": "..."}', too_big=too_big)
    submission = request_parse(SubmissionRequest, body)
    submissions_charge(user=request.user, cost=1)  # RateLimited: a 429 from the API's handler
    try:
        item = services.submission_create(
            text=submission.text, submitted_by=request.user.get_username(), callback_url=submission.callback_url
        )
    except (StoreUnavailable, QueueUnavailable) as error:
        raise unavailable(f"Not submitted: {error}") from None
    accepted = {"id": item["id"], "status": item["status"]}
    if submission.callback_url:
        accepted["callback_secret"] = callback_secret(subject=f"item:{item['id']}")
    return JsonResponse(accepted, status=202)


def _submission_awaited(accepted: HttpResponse, *, wait_s: float) -> HttpResponse:
    """The accepted item's result (200) if it is final within `wait_s`, else the 202 as it was."""
    answer = json.loads(accepted.content)
    try:
        item = submission_wait(item_id=answer["id"], wait_s=wait_s)
    except (ItemNotFound, StoreUnavailable):
        return accepted  # stored and queued all the same: the client asks for it by id
    if item["status"] in PENDING:
        return accepted
    secret = {"callback_secret": answer["callback_secret"]} if "callback_secret" in answer else {}
    return JsonResponse(selectors.submission_public(item) | secret, status=200)


not_allowed(router, "/submissions", allowed=["POST"], view=api_submissions)


@router.get(
    "/submissions/{path:item_id}",
    url_name="api_submission_detail",
    summary="One result",
    operation_id="getSubmission",
    openapi_extra={"parameters": [WAIT_PARAMETER]},
    response={200: Result, 400: Error, 401: UNAUTHORIZED, 404: Error, 503: Error},
)
def api_submission_detail(request: HttpRequest, item_id: str) -> HttpResponse:
    wait = wait_seconds(request)
    if not item_id_valid(item_id):
        return api_error(404, "No submission with that id.")
    try:
        if wait is None:
            item = selectors.submission_get(item_id=item_id)
        else:
            item = submission_wait(item_id=item_id, wait_s=wait)
    except ItemNotFound:
        return api_error(404, "No submission with that id.")
    except StoreUnavailable as error:
        return api_error(503, str(error))
    return JsonResponse(selectors.submission_public(item))


not_allowed(router, "/submissions/{path:item_id}", allowed=["GET"], view=api_submission_detail)
