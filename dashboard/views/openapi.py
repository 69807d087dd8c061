"""The API's description, public so clients and code generators can fetch it without a token."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from dashboard.openapi import openapi_document


@login_not_required  # a description of the API, no data: public by design (LoginRequiredMiddleware)
@require_GET
def openapi_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 2})
