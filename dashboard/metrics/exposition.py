"""The web tier's `/metrics`: who may read it, and gunicorn's many processes seen as one.

Under gunicorn every worker process keeps its counters in files in PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode, set up by webapp/gunicorn.conf.py), and a scrape of any one of
them sums them all. Without that variable (runserver, tests) the process's own registry is read. The
store gauges (`dashboard.metrics.store`) are read at each scrape either way.

It is served before the Host check (dashboard.middleware), as the health checks are: Prometheus
addresses a target by its IP. Only a caller with `Authorization: Bearer <METRICS_TOKEN>` or from
METRICS_ALLOWED_NETWORKS gets an answer; anyone else, a wrong token included, gets a 404, as if
there were no such page.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from dashboard.login_throttle import client_address
from dashboard.metrics.server import registry_with
from dashboard.metrics.store import StoreCollector

BEARER = "Bearer "


def metrics_allowed(request: HttpRequest) -> bool:
    """A request that sends a bearer token is judged by it alone; one without, by its address."""
    header = request.headers.get("Authorization", "")
    if header.startswith(BEARER):
        token = settings.METRICS_TOKEN
        return bool(token) and hmac.compare_digest(header[len(BEARER) :].encode(), token.encode())
    if header:
        return False
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_registry() -> CollectorRegistry:
    """What one scrape reads: every process's families (multiprocess mode) or this one's, and the store gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
    else:
        registry = registry_with()
    registry.register(StoreCollector())
    return registry


@login_not_required  # Prometheus has no session: the token or the address decides
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponseNotFound("Not found", content_type="text/plain")
    if request.method not in {"GET", "HEAD"}:
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
