"""The registry's pages: register a version, promote or roll back after a confirm page, and shadow
comparisons (start one, its report, its differing items as CSV). Staff only."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.auth import AuthenticatedHttpRequest
from dashboard.aws import dynamodb
from dashboard.exceptions import QueueUnavailable, RegistryError, StoreUnavailable
from dashboard.registry import selectors, services, shadow, shadow_csv
from dashboard.registry.models import ModelVersion, ShadowRun
from dashboard.validators import item_id_valid
from dashboard.views.fragments import render_page_or_fragment
from dashboard.views.power import staff_required

DIFFERING_SHOWN = 50


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


@staff_required
@require_POST
def shadow_start(request: AuthenticatedHttpRequest, version_id: str) -> HttpResponse:
    """Compare a candidate on every labelled item (the Models page) or on a selection (the explorer)."""
    ids = [item_id for item_id in request.POST.getlist("ids") if item_id_valid(item_id)]
    scope = f"{len(ids):,} selected items" if ids else "every labelled item"
    try:
        run = shadow.shadow_start(
            user=request.user, version_id=version_id, item_ids=ids or shadow.ids_labelled(), scope=scope
        )
    except RegistryError as error:
        messages.error(request, f"Not started: {error}")
        return redirect(_models_page(version_id))
    except QueueUnavailable as error:
        messages.error(request, f"Not started: {error}")
        return redirect(_models_page(version_id))
    messages.success(request, f"Comparing {run.candidate_id} on {scope}; nobody's results change.")
    return redirect("dashboard:shadow_detail", run_id=run.id)


def _shadow_or_404(run_id: str) -> ShadowRun:
    run = ShadowRun.objects.filter(pk=run_id).select_related("candidate").first()
    if run is None:
        raise Http404("No such comparison")
    return shadow.shadow_sync(run)


@staff_required
@require_GET
def shadow_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = _shadow_or_404(run_id)
    report = shadow.shadow_report(run)
    shown: list[dict] = []
    store_error = None
    if report["differing"]:
        try:
            found = dynamodb.items_get_many(item_ids=report["differing"][:DIFFERING_SHOWN])
            shown = [found[item_id] for item_id in report["differing"][:DIFFERING_SHOWN] if item_id in found]
        except StoreUnavailable as error:
            store_error = str(error)
    context = {
        "run": run,
        "report": report,
        "progress": shadow.shadow_progress(run),
        "differing": shown,
        "more": max(0, len(report["differing"]) - len(shown)),
        "live": run.status not in ShadowRun.FINAL,
        "store_error": store_error,
    }
    return render_page_or_fragment(
        request, page="dashboard/shadow_detail.html", fragment="dashboard/shadow_report.html", context=context
    )


@staff_required
@require_GET
def shadow_differing_csv(request: HttpRequest, run_id: str) -> HttpResponseBase:
    """Every item on which the two models differ, with both answers and the person's label where there is one."""
    run = _shadow_or_404(run_id)
    ids = shadow.shadow_report(run)["differing"]
    try:
        dynamodb.store_ping()
    except StoreUnavailable as error:
        return HttpResponse(
            f"The results table cannot be read right now: {error}", status=503, content_type="text/plain"
        )
    response = StreamingHttpResponse(shadow_csv.differing_lines(ids), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="shadow-{run.id[:12]}-differing.csv"'
    response["Cache-Control"] = "no-store"
    return response
