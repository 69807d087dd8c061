"""The JSON API, version 1, on django-ninja. Errors are JSON too: {"error": "...", "fields": {...}}.

Every operation authenticates first (a bearer token, or a session with its CSRF token on unsafe
methods), then answers; the OpenAPI 3.1 document at /api/v1/openapi.json is generated from the
operations and schemas here, and is behind the same login.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, path
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from dashboard.api import batches, cancel, finetunes, generate, labels, models, submissions, webhooks
from dashboard.api.responses import REQUEST_MODELS, UNAUTHORIZED, not_allowed
from dashboard.api.schemas import error_fields
from dashboard.auth import AUTHENTICATION_REQUIRED, ApiError, SessionAuth, TokenAuth, api_error, unauthorized
from dashboard.exceptions import RateLimited

__all__ = ["api", "document", "urlpatterns"]

PREFIX = "/api/v1/"

api = NinjaAPI(
    title="Classifier console API",
    version="1.0.0",
    description=(
        "Submit texts to the classifier, one at a time or in batches, and read the results. "
        "Authenticate with `Authorization: Bearer <token>` (made on the API tokens page, /settings/tokens/, "
        "or by `manage.py create_api_token <user>`), "
        "or with a logged-in session plus the `X-CSRFToken` header. Errors are JSON: "
        '`{"error": "...", "fields": {...}}`.'
    ),
    auth=[TokenAuth(), SessionAuth()],
    openapi_url=None,  # served by `openapi_json` below, behind the login
    docs_url=None,
)
api.add_router("", cancel.router)  # first: see dashboard/api/cancel.py
api.add_router("", labels.router)  # before submissions too: see dashboard/api/labels.py
api.add_router("", submissions.router)
api.add_router("", batches.router)
api.add_router("", generate.router)
api.add_router("", webhooks.router)
api.add_router("", models.router)
api.add_router("", finetunes.router)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return error.response()


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return unauthorized(AUTHENTICATION_REQUIRED).response()


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    message, fields = error_fields(list(error.errors))
    return api_error(400, message, fields=fields)


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, error: RateLimited) -> HttpResponse:
    response = api_error(429, str(error), retry_after=error.retry_after)
    response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    raise error  # dashboard.middleware answers it, with the limit, on every route


def document() -> dict[str, Any]:
    """The OpenAPI document for this deployment: limits come from its settings."""
    # Through JSON: ninja keys responses by int status codes, the document (and its validator) by strings.
    schema: dict[str, Any] = json.loads(json.dumps(api.get_openapi_schema(path_prefix=PREFIX)))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model in REQUEST_MODELS.items():
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[name] = body
    components["SubmissionRequest"]["properties"]["text"]["maxLength"] = settings.SUBMISSION_MAX_CHARS
    components["GenerateRequest"]["properties"]["prompt"]["maxLength"] = settings.GENERATE_MAX_PROMPT_CHARS
    components["GenerateRequest"]["properties"]["max_new_tokens"]["maximum"] = settings.GENERATE_MAX_NEW_TOKENS
    for field in ("texts", "items"):
        components["BatchRequest"]["properties"][field]["maxItems"] = settings.BATCH_MAX_ROWS
    return schema


@api.get(
    "/openapi.json",
    url_name="api_openapi",
    summary="This document",
    operation_id="getOpenApi",
    response={200: dict[str, Any], 401: UNAUTHORIZED},
)
def openapi_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(document(), json_dumps_params={"indent": 2})


not_allowed(api.default_router, "/openapi.json", allowed=["GET"], view=openapi_json)


def _login_not_required(patterns: list[URLPattern | URLResolver]) -> list[URLPattern]:
    """An API client gets a 401 JSON answer from the API's auth, not LoginRequiredMiddleware's redirect.

    Ninja names every route it makes. Its own root page (a link to its docs) is left out: there are
    no public docs.
    """
    routes = []
    for p in patterns:
        if isinstance(p, URLPattern) and p.name and not p.name.endswith("api-root"):
            # Top-level routes under the prefix (not an include()), so the URL map lists each API route itself.
            routes.append(path(f"{PREFIX.lstrip('/')}{p.pattern}", login_not_required(p.callback), name=p.name))
    return routes


urlpatterns = _login_not_required(api.urls[0])
