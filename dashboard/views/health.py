"""Health checks for load balancers; no login.

`/readyz` is public, so it says only `ok` or `error` per dependency. Why a check failed (an AWS error
names the account, the role and the table) goes to the log for operators, never into the response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from dashboard.aws import dynamodb
from dashboard.queue import inference_queue

log = logging.getLogger(__name__)


def _redis_ping() -> None:
    inference_queue().connection.ping()


def _dynamodb_ping() -> None:
    dynamodb.store_ping()


CHECKS: dict[str, Callable[[], None]] = {"redis": _redis_ping, "dynamodb": _dynamodb_ping}


@login_not_required  # the load balancer has no session
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as error:  # any failure means not ready; the reason is for the log, not the caller
            log.warning("readiness check %s failed: %s: %s", name, error.__class__.__name__, error)
            checks[name] = "error"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "error", "checks": checks}, status=200 if ready else 503)
