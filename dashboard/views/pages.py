from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import selectors, services
from dashboard.exceptions import ItemNotFound, QueueUnavailable, StoreUnavailable
from dashboard.forms import SubmissionForm
from dashboard.validators import item_id_valid

log = logging.getLogger(__name__)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: a quick submit box and the latest results; panels add themselves here."""
    context = _results_context(request, limit=5)
    return render(request, "dashboard/home.html", {**context, "form": SubmissionForm()})


@login_required
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    form = SubmissionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.submission_create(text=form.cleaned_data["text"], submitted_by=request.user.get_username())
        except (StoreUnavailable, QueueUnavailable) as error:
            form.add_error(None, f"Not submitted: {error}")
            return render(request, "dashboard/submit.html", {"form": form}, status=503)
        messages.success(request, f"Submitted {item['id']}; it is queued for classification.")
        return redirect("results")
    return render(request, "dashboard/submit.html", {"form": form}, status=400 if form.errors else 200)


def _results_context(request: HttpRequest, *, limit: int | None = None) -> dict:
    limit = limit or settings.RESULTS_PAGE_SIZE
    cursor = request.GET.get("cursor") or None
    error = None
    items: list[dict] = []
    next_cursor = None
    try:
        try:
            items, next_cursor = selectors.submission_page(limit=limit, cursor=cursor)
        except ValueError:
            error = "That page link is no longer valid; showing the first page."
            cursor = None
            items, next_cursor = selectors.submission_page(limit=limit)
    except StoreUnavailable as store_error:
        error = f"The results table cannot be read right now: {store_error}"
    active = any(item["status"] in selectors.ACTIVE_STATUSES for item in items)
    return {"items": items, "next_cursor": next_cursor, "cursor": cursor, "store_error": error, "active": active}


@login_required
@require_GET
def results(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/results.html", _results_context(request))


@login_required
@require_GET
def results_table(request: HttpRequest) -> HttpResponse:
    """The table alone, for the page's live refresh."""
    try:
        limit = min(max(int(request.GET.get("limit", "")), 1), settings.RESULTS_PAGE_SIZE)
    except ValueError:
        limit = None
    return render(request, "dashboard/results_table.html", _results_context(request, limit=limit))


@login_required
@require_GET
def result_detail(request: HttpRequest, item_id: str) -> HttpResponse:
    if not item_id_valid(item_id):
        raise Http404("No such result")
    try:
        item = selectors.submission_get(item_id=item_id)
    except ItemNotFound:
        raise Http404("No such result") from None
    return render(request, "dashboard/result_detail.html", {"item": item})
