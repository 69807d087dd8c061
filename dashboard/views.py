from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import selectors, services
from dashboard.auth import api_error, api_login_required
from dashboard.aws import dynamodb
from dashboard.exceptions import ItemNotFound, QueueUnavailable, StoreUnavailable
from dashboard.forms import SubmissionForm
from dashboard.validators import item_id_valid, submission_text_clean

log = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("results")


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


def _results_context(request: HttpRequest) -> dict:
    cursor = request.GET.get("cursor") or None
    error = None
    items: list[dict] = []
    next_cursor = None
    try:
        try:
            items, next_cursor = selectors.submission_page(limit=settings.RESULTS_PAGE_SIZE, cursor=cursor)
        except ValueError:
            error = "That page link is no longer valid; showing the first page."
            cursor = None
            items, next_cursor = selectors.submission_page(limit=settings.RESULTS_PAGE_SIZE)
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
    return render(request, "dashboard/results_table.html", _results_context(request))


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


# --- JSON API -------------------------------------------------------------------------------


@api_login_required
@require_http_methods(["POST"])
def api_submissions(request: HttpRequest) -> HttpResponse:
    if request.content_type != "application/json":
        return api_error(415, 'Send the submission as application/json: {"text": "..."}.')
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return api_error(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        return api_error(400, 'The body must be a JSON object: {"text": "..."}.')
    unknown = sorted(set(body) - {"text"})
    if unknown:
        return api_error(400, f"Unknown field(s): {', '.join(unknown)}.", fields={k: "unknown field" for k in unknown})
    if "text" not in body:
        return api_error(400, "Field 'text' is required.", fields={"text": "required"})
    try:
        text = submission_text_clean(body["text"])
    except ValidationError as error:
        return api_error(400, error.messages[0], fields={"text": error.messages[0]})
    try:
        item = services.submission_create(text=text, submitted_by=request.user.get_username())
    except (StoreUnavailable, QueueUnavailable) as error:
        response = api_error(503, f"Not submitted: {error}")
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"id": item["id"], "status": item["status"]}, status=202)


@api_login_required
@require_GET
def api_submission_detail(request: HttpRequest, item_id: str) -> HttpResponse:
    if not item_id_valid(item_id):
        return api_error(404, "No submission with that id.")
    try:
        item = selectors.submission_get(item_id=item_id)
    except ItemNotFound:
        return api_error(404, "No submission with that id.")
    except StoreUnavailable as error:
        return api_error(503, str(error))
    return JsonResponse(selectors.submission_public(item))


# --- health ---------------------------------------------------------------------------------


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks: dict[str, str] = {}
    try:
        from dashboard.queue import inference_queue

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
