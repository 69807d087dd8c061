"""`/api/v1/generate`: text generation on the SageMaker endpoint, recorded in the history."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from dashboard import generation, ratelimit
from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed
from dashboard.api.schemas import EndpointFailure, Error, GenerateRequest, Generation, TooLarge, request_parse
from dashboard.api.submissions import json_body
from dashboard.auth import ApiError
from dashboard.exceptions import (
    EndpointError,
    EndpointNotReady,
    EndpointPaused,
    EndpointStarting,
    EndpointThrottled,
    EndpointUnavailable,
)
from dashboard.views.generate import endpoint_error_status

router = Router(tags=["generate"])


@router.post(
    "/generate",
    url_name="api_generate",
    summary="Generate text on the SageMaker text-generation endpoint",
    operation_id="generate",
    openapi_extra=json_request(GenerateRequest),
    response={
        200: Generation,
        400: Error,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        413: TooLarge,
        415: Error,
        429: EndpointFailure | Error,  # the user's limits (with retry_after), or the endpoint throttling
        502: EndpointFailure,
        503: EndpointFailure,
        504: EndpointFailure,
    },
)
def api_generate(request: HttpRequest) -> HttpResponse:
    body = json_body(request, example='request as application/json: {"prompt": "...", "max_new_tokens": 50}')
    params = request_parse(GenerateRequest, body).params()
    try:
        generation.generation_endpoint_ready()
        with ratelimit.generation_admitted(user=request.user, tokens=params.max_new_tokens):
            item = generation.generation_create(params=params, requested_by=request.user.get_username())
    except EndpointError as error:
        headers = {}
        if isinstance(error, EndpointStarting):
            headers["Retry-After"] = str(error.retry_after)  # the endpoint's typical start time
        elif isinstance(error, EndpointPaused):
            pass  # no retry helps until a staff member resumes it
        elif isinstance(error, EndpointThrottled | EndpointNotReady | EndpointUnavailable):
            headers["Retry-After"] = "5" if isinstance(error, EndpointThrottled) else "30"
        raise ApiError(
            endpoint_error_status(error), str(error), headers=headers, endpoint=settings.SAGEMAKER_GENERATE_ENDPOINT
        ) from None
    return JsonResponse(generation.generation_public(item))


not_allowed(router, "/generate", allowed=["POST"], view=api_generate)
