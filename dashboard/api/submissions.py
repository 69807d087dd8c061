"""The JSON API, version 1. Errors are JSON too: {"error": "...", "fields": {...}}."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import selectors, services
from dashboard.auth import api_error, api_login_required
from dashboard.exceptions import ItemNotFound, QueueUnavailable, StoreUnavailable
from dashboard.ratelimit import rate_limited, submissions_charge
from dashboard.validators import item_id_valid, submission_text_clean


@api_login_required
@require_http_methods(["POST"])
@rate_limited(api=True)
def api_submissions(request: HttpRequest) -> HttpResponse:
    if request.content_type != "application/json":
        return api_error(415, 'Send the submission as application/json: {"text": "..."}.')
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        chars = settings.SUBMISSION_MAX_CHARS
        return api_error(413, f"The body is larger than {limit:,} bytes; a text may have up to {chars:,} characters.")
    except (ValueError, UnicodeDecodeError):
        return api_error(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        return api_error(400, 'The body must be a JSON object: {"text": "..."}.')
    unknown = sorted(set(body) - {"text"})
    if unknown:
        return api_error(400, f"Unknown field(s): {', '.join(unknown)}.", fields={k: "unknown field" for k in unknown})
    if "text" not in body:
        return api_error(400, "Field 'text' is required.", fields={"text": "required"})
    try:
        text = submission_text_clean(body["text"])
    except ValidationError as error:
        return api_error(400, error.messages[0], fields={"text": error.messages[0]})
    submissions_charge(user=request.user, cost=1)  # per-user limit (issue 7): 429 via @rate_limited
    try:
        item = services.submission_create(text=text, submitted_by=request.user.get_username())
    except (StoreUnavailable, QueueUnavailable) as error:
        response = api_error(503, f"Not submitted: {error}")
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"id": item["id"], "status": item["status"]}, status=202)


@api_login_required
@require_GET
def api_submission_detail(request: HttpRequest, item_id: str) -> HttpResponse:
    if not item_id_valid(item_id):
        return api_error(404, "No submission with that id.")
    try:
        item = selectors.submission_get(item_id=item_id)
    except ItemNotFound:
        return api_error(404, "No submission with that id.")
    except StoreUnavailable as error:
        return api_error(503, str(error))
    return JsonResponse(selectors.submission_public(item))
