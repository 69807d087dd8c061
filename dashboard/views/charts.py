"""The dashboard's charts: their data as JSON, drawn by static/js/charts.js with the vendored Chart.js.

Every open dashboard polls this. The data is kept a few seconds in Django's cache, which is Redis and
so shared by every web process: N readers on M processes cost one DynamoDB read, not M. A cache that
does not answer is skipped (the data is computed), never an error.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from dashboard import selectors
from dashboard.exceptions import QueueUnavailable, StoreUnavailable
from dashboard.queue import inference_queue

log = logging.getLogger(__name__)

# A few seconds of staleness turns every reader into one DynamoDB read.
CACHE_SECONDS = 10
CACHE_KEY = "dashboard-charts"


def _queue_depth() -> int | None:
    try:
        return inference_queue().count
    except Exception:  # Redis down: the chart says "unknown" instead of failing the whole panel
        return None


def _cache_key(now: datetime) -> str:
    # By table and minute: the series are per minute of that table, so a key never outlives its window.
    return f"{CACHE_KEY}:{settings.DYNAMODB_TABLE}:{now:%Y-%m-%dT%H:%M}"


def charts_payload(*, now: datetime | None = None) -> dict[str, Any]:
    """The charts' data, from the shared cache when a web process read it in the last CACHE_SECONDS.

    Raises StoreUnavailable/QueueUnavailable when it has to be read and cannot be.
    """
    now = now or datetime.now(UTC)
    key = _cache_key(now)
    cache_up = True
    try:
        data = cache.get(key)
    except Exception as error:  # Redis away: compute it, as if nothing were cached
        log.warning("chart cache unreadable (%s); reading the charts from DynamoDB", error)
        data, cache_up = None, False
    if data is not None:
        return data
    data = selectors.dashboard_charts(now=now)
    data["queue_jobs"] = _queue_depth()
    if cache_up:
        try:
            cache.set(key, data, CACHE_SECONDS)
        except Exception as error:
            log.warning("chart cache not written: %s", error)
    return data


@login_required
@require_GET
def charts_data(request: HttpRequest) -> HttpResponse:
    try:
        data = charts_payload()
    except (StoreUnavailable, QueueUnavailable) as error:
        return JsonResponse({"error": f"The chart data cannot be read right now: {error}"}, status=503)
    return JsonResponse(data)
