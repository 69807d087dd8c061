"""The registry's pages: register a version, and promote or roll back after a confirm page (staff only)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.auth import AuthenticatedHttpRequest
from dashboard.exceptions import QueueUnavailable, RegistryError
from dashboard.registry import selectors, services
from dashboard.registry.models import ModelVersion
from dashboard.views.power import staff_required


def _models_page(version_id: str | None = None) -> str:
    url = reverse("dashboard:models")
    return f"{url}?{urlencode({'model': version_id})}" if version_id else url


@staff_required
@require_POST
def model_register(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        version = services.model_register(
            name=request.POST.get("name", ""),
            source=request.POST.get("source", ""),
            training_data=request.POST.get("training_data", ""),
            user=request.user,
        )
    except RegistryError as error:
        messages.error(request, f"Not registered: {error}")
        return redirect(_models_page())
    messages.success(request, f"Registered {version.id} as a candidate. Promote it to serve it.")
    return redirect(_models_page(version.id))


@staff_required
@require_http_methods(["GET", "POST"])
def model_promote(request: AuthenticatedHttpRequest, version_id: str) -> HttpResponse:
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise Http404("No such model version")
    serving = selectors.version_serving()
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(
            request, "dashboard/model_confirm.html", {"version": version, "serving": serving, "action": "promote"}
        )
    return _changed(request, lambda: services.model_promote(version_id=version.id, user=request.user), "Promoted")


@staff_required
@require_http_methods(["GET", "POST"])
def model_rollback(request: AuthenticatedHttpRequest) -> HttpResponse:
    serving = selectors.version_serving()
    previous = selectors.version_previous()
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(
            request, "dashboard/model_confirm.html", {"version": previous, "serving": serving, "action": "rollback"}
        )
    return _changed(request, lambda: services.model_rollback(user=request.user), "Rolled back to")


def _changed(request: AuthenticatedHttpRequest, change, done: str) -> HttpResponse:
    try:
        version = change()
    except RegistryError as error:
        messages.error(request, str(error))
        return redirect(_models_page())
    except QueueUnavailable as error:
        messages.error(request, f"Nothing changed: {error}")
        return redirect(_models_page())
    messages.success(
        request,
        f"{done} {version.id}. Each worker loads it after the job it has; the Fleet page shows what each serves.",
    )
    return redirect(_models_page(version.id))
