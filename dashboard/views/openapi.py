"""The API's description: for a logged-in user or a bearer token, like the rest of the API.

Issue 7 allows only the login page and the health checks without a login; code generators fetch it
with `Authorization: Bearer <token>`.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from dashboard.auth import api_login_required
from dashboard.openapi import openapi_document


@api_login_required
@require_GET
def openapi_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 2})
