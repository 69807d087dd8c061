"""Health checks for load balancers; no login."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from dashboard.aws import dynamodb
from dashboard.exceptions import StoreUnavailable
from dashboard.queue import inference_queue


@login_not_required  # the load balancer has no session
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks: dict[str, str] = {}
    try:
        inference_queue().connection.ping()
        checks["redis"] = "ok"
    except Exception as error:  # any failure means not ready; the reason goes in the body
        checks["redis"] = f"error: {error.__class__.__name__}"
    try:
        dynamodb.store_ping()
        checks["dynamodb"] = "ok"
    except StoreUnavailable as error:
        checks["dynamodb"] = f"error: {error}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
