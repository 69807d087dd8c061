"""The dashboard's charts: their data as JSON, drawn by static/js/charts.js with the vendored Chart.js."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from dashboard import selectors
from dashboard.exceptions import QueueUnavailable, StoreUnavailable
from dashboard.queue import inference_queue

# Every open dashboard polls this; a few seconds of staleness turns N readers into one DynamoDB read.
CACHE_SECONDS = 10
CACHE_KEY = "dashboard-charts"


def _queue_depth() -> int | None:
    try:
        return inference_queue().count
    except Exception:  # Redis down: the chart says "unknown" instead of failing the whole panel
        return None


@login_required
@require_GET
def charts_data(request: HttpRequest) -> HttpResponse:
    data = cache.get(CACHE_KEY)
    if data is None:
        try:
            data = selectors.dashboard_charts()
        except (StoreUnavailable, QueueUnavailable) as error:
            return JsonResponse({"error": f"The chart data cannot be read right now: {error}"}, status=503)
        data["queue_jobs"] = _queue_depth()
        cache.set(CACHE_KEY, data, CACHE_SECONDS)
    return JsonResponse(data)
