"""Staff pause and resume of model endpoints, with a confirmation step (the panel shows them: views/power.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dashboard import endpoints
from dashboard.endpoints import records
from dashboard.endpoints.base import EndpointBackend
from dashboard.endpoints.control import endpoint_pause, endpoint_resume, idle_after
from dashboard.exceptions import DeployError, EndpointStatusUnavailable
from dashboard.power.fleet import endpoints_status_forget
from dashboard.views.power import duration, staff_required

log = logging.getLogger(__name__)

ACTION_LABELS = {"pause": "Pause", "resume": "Resume"}


@staff_required
@require_http_methods(["GET", "POST"])
def endpoint_action(request: HttpRequest, name: str, action: str) -> HttpResponse:
    """GET: the confirmation page. POST (CSRF-checked): pause or resume, audited, back to the dashboard."""
    backend = endpoints.backend()
    if name not in backend.endpoint_names() or action not in ACTION_LABELS:
        raise Http404("No such endpoint or action")
    if request.method == "POST":
        act = endpoint_pause if action == "pause" else endpoint_resume
        try:
            state = act(name=name, actor=request.user, backend=backend)
        except DeployError as error:
            messages.error(request, f"{ACTION_LABELS[action]} {name} failed: {error}")
        else:
            messages.success(request, f"{ACTION_LABELS[action]} {name}: done; it is now {state}.")
        endpoints_status_forget()
        return redirect("dashboard:home")
    return render(request, "dashboard/endpoint_confirm.html", _confirm_context(backend, name, action))


def _confirm_context(backend: EndpointBackend, name: str, action: str) -> dict[str, Any]:
    try:
        endpoint = backend.endpoint_describe(name)
        describe_error = None
    except EndpointStatusUnavailable as error:
        endpoint, describe_error = None, str(error)
    return {
        "name": name,
        "endpoint": endpoint,
        "describe_error": describe_error,
        "action": action,
        "action_label": ACTION_LABELS[action],
        "pause": records.pause_of(name),
        "idle_after": duration(idle_after(name)),
    }
