"""The results explorer: filtered cursor pages, live rows, selection actions (re-run, cancel, delete,
download), requeue by filter, CSV export, the detail page and its cancel."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from dashboard import audit, cancel, export, selectors, services
from dashboard.auth import AuthenticatedHttpRequest
from dashboard.aws import dynamodb
from dashboard.exceptions import (
    InvalidLabel,
    ItemConflict,
    ItemNotFound,
    QueueUnavailable,
    RateLimited,
    RegistryError,
    StoreUnavailable,
)
from dashboard.explorer import COLUMNS, COLUMNS_PREFERENCE, ExplorerForm, columns_clean
from dashboard.labels.vocabulary import item_label_names
from dashboard.validators import item_id_valid
from dashboard.views.fragments import render_page_or_fragment

log = logging.getLogger(__name__)

# The explorer's filters that no index serves (a condition on what the chosen index reads).
CONDITION_FILTERS = ("human_label", "confidence_min", "confidence_max", "batch", "submitted_by")
# Ids one selection action accepts: the largest page size, with room to spare.
MAX_SELECTION = 1000


def _decorate(items: list[dict]) -> list[dict]:
    """Give each row a DOM id that is safe in a CSS selector (item ids may contain dots)."""
    for item in items:
        item["dom_id"] = "row-" + hashlib.blake2s(item["id"].encode(), digest_size=8).hexdigest()
    return items


def hold_notice() -> str | None:
    """Why queued work is not being started, when staff hold the fleet (or every instance); never raises."""
    from dashboard import compute, power

    try:
        return power.hold_notice(compute.backend().instance_ids())
    except Exception:  # Redis down: the pages say so elsewhere; a notice must not break them
        log.warning("could not read the power holds", exc_info=True)
        return None


def latest_results_context(request: HttpRequest, *, limit: int | None = None) -> dict:
    """The newest results for the home page's small table (and its live refresh)."""
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
    return {
        "items": items,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "limit": limit,
        "store_error": error,
        "active": active,
        "hold_notice": hold_notice() if any(item["status"] == "queued" for item in items) else None,
    }


def _explorer_context(request: HttpRequest) -> dict:
    form = ExplorerForm(request.GET)
    form.is_valid()
    columns = columns_clean(selectors.preference_get(user=request.user, key=COLUMNS_PREFERENCE))
    context: dict = {
        "form": form,
        "columns": COLUMNS,
        "visible": columns,
        "hidden": [key for key, _ in COLUMNS if key not in columns],
        "page_sizes": settings.RESULTS_PAGE_SIZES,
        "page_size": form.page_size(),
        "labels": selectors.model_labels(),
        "items": [],
        "page": None,
        "store_error": None,
        "notice": None,
        "lookup": None,
        "base_query": form.query_without("cursor"),
        "export_query": form.query_without("cursor", "size", "id"),
        "filtered": False,
        "requeue_fields": [
            (name, form.data[name])
            for name in ("label", "model", "created_from", "created_to", "text", *CONDITION_FILTERS)
            if form.data.get(name)
        ],
        "requeue_limit": settings.REQUEUE_MAX_ITEMS,
        "candidates": _candidates() if request.user.is_staff else [],
    }
    lookup = form.cleaned_data.get("id") if "id" not in form.errors else None
    item_filter = form.item_filter()
    context["filtered"] = item_filter != dynamodb.ItemFilter()
    context["discards"] = item_filter.discards
    context["export_needs_staff"] = export.export_needs_staff(item_filter)
    try:
        if lookup:
            context["lookup"] = lookup
            try:
                context["items"] = [selectors.submission_get(item_id=lookup)]
            except ItemNotFound:
                context["items"] = []
        else:
            cursor = form.cleaned_data.get("cursor") or None
            try:
                page = selectors.explorer_page(item_filter=item_filter, limit=context["page_size"], cursor=cursor)
            except ValueError:
                context["notice"] = "That page link is no longer valid for these filters; showing the first page."
                page = selectors.explorer_page(item_filter=item_filter, limit=context["page_size"])
            context["page"] = page
            context["items"] = page.items
    except StoreUnavailable as error:
        context["store_error"] = str(error)
    _decorate(context["items"])
    active = [item["id"] for item in context["items"] if item["status"] in selectors.ACTIVE_STATUSES]
    context["active_ids"] = active
    return context


def _candidates() -> list:
    from dashboard.registry.models import ModelVersion

    return list(ModelVersion.objects.exclude(status="serving"))


@login_required
@require_GET
def results(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/results.html", _explorer_context(request))


@login_required
@require_GET
def results_table(request: HttpRequest) -> HttpResponse:
    """The newest results alone: what the home page's table swaps in while a row is queued or running."""
    try:
        limit = min(max(int(request.GET.get("limit", "")), 1), settings.RESULTS_PAGE_SIZE)
    except ValueError:
        limit = None
    return render(request, "dashboard/results_table.html", latest_results_context(request, limit=limit))


@login_required
@require_GET
def results_rows(request: HttpRequest) -> HttpResponse:
    """Fresh rows for the ids still queued or running: swapped into the page in place (htmx out-of-band)."""
    ids = [item_id for item_id in request.GET.getlist("ids") if item_id_valid(item_id)][
        : max(settings.RESULTS_PAGE_SIZES)
    ]
    store_error = None
    items: list[dict] = []
    try:
        items = _decorate(selectors.explorer_items(item_ids=ids))
    except StoreUnavailable as error:
        store_error = str(error)
    active = [item["id"] for item in items if item["status"] in selectors.ACTIVE_STATUSES]
    if store_error:
        active = ids  # keep polling: the store may come back
    return render(
        request,
        "dashboard/results_rows.html",
        {"items": items, "active_ids": active, "store_error": store_error, "oob": True},
    )


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    # Only a path on this site: redirect() would read any other word as a view name to reverse.
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("dashboard:results")


def csv_download(items, *, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.csv_chunks(items), content_type="text/csv; charset=utf-8")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def results_actions(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """Delete, re-run, cancel, label or download the selected rows."""
    ids = list(dict.fromkeys(item_id for item_id in request.POST.getlist("ids") if item_id_valid(item_id)))
    action = request.POST.get("action", "")
    back = _back(request)
    if action == "requeue":  # by the explorer's filters, not by selection
        return _requeue(request, back=back)
    if not ids:
        messages.error(request, "Select at least one row first.")
        return redirect(back)
    if len(ids) > MAX_SELECTION:
        messages.error(request, f"Select at most {MAX_SELECTION:,} rows at a time.")
        return redirect(back)
    try:
        if action == "download":
            return csv_download(selectors.explorer_items(item_ids=ids), name="selected-results")
        if action == "rerun":
            outcome = services.items_rerun(item_ids=ids, user=request.user)
            message = f"Re-running {len(outcome['queued'])} item(s)."
            if outcome["skipped"]:
                message += f" {len(outcome['skipped'])} running or missing item(s) were left alone."
            messages.success(request, message)
            return redirect(back)
        if action == "label":
            return _label_selection(request, ids, back=back)
        if action == "shadow":
            return _shadow_selection(request, ids, back=back)
        if action == "cancel":
            outcome = cancel.items_cancel(item_ids=ids, user=request.user, reason=request.POST.get("reason", ""))
            message = f"Cancelled {len(outcome['cancelled'])} item(s)."
            if outcome["left"]:
                message += f" {len(outcome['left'])} finished, missing or other users' item(s) were left alone."
            messages.success(request, message)
            return redirect(back)
        if action == "delete":
            if not request.user.is_staff:
                audit.audit_record(
                    kind="data",
                    actor=request.user,
                    action="delete",
                    target="selection",
                    outcome="refused",
                    count=len(ids),
                    detail="only staff can delete results",
                )
                messages.error(request, "Only staff can delete results.")
                return redirect(back)
            if request.POST.get("confirm") != "yes":
                return render(request, "dashboard/results_confirm_delete.html", {"ids": ids, "next": back})
            deleted = services.items_delete(item_ids=ids, actor=request.user)
            log.info("%s deleted %d result(s): %s", request.user.get_username(), deleted, ", ".join(ids[:20]))
            messages.success(request, f"Deleted {deleted} item(s).")
            return redirect(back)
    except RateLimited as error:  # a re-run is charged per item, as submissions are
        return rate_limited_page(request, error, back=back)
    except StoreUnavailable as error:
        messages.error(request, f"Nothing changed: the results table cannot be reached ({error}).")
        return redirect(back)
    except QueueUnavailable as error:
        messages.error(request, f"The items were reset but could not be queued, so they are marked failed: {error}")
        return redirect(back)
    messages.error(request, "Unknown action.")
    return redirect(back)


def _label_selection(request: AuthenticatedHttpRequest, ids: list[str], *, back: str) -> HttpResponse:
    from dashboard.labels import services as label_services

    try:
        outcome = label_services.labels_set(item_ids=ids, user=request.user, label=request.POST.get("label", ""))
    except InvalidLabel as error:
        messages.error(request, f"Nothing labelled: {error}")
        return redirect(back)
    message = f"Labelled {len(outcome['labelled'])} item(s) {request.POST.get('label', '')}."
    if outcome["left"]:
        message += f" {len(outcome['left'])} not done, missing or changed meanwhile were left alone."
    messages.success(request, message)
    return redirect(back)


def _shadow_selection(request: AuthenticatedHttpRequest, ids: list[str], *, back: str) -> HttpResponse:
    from dashboard.registry import shadow

    if not request.user.is_staff:
        messages.error(request, "Only staff can run a shadow comparison.")
        return redirect(back)
    try:
        run = shadow.shadow_start(
            user=request.user,
            version_id=request.POST.get("version", ""),
            item_ids=ids,
            scope=f"{len(ids):,} selected items",
        )
    except (RegistryError, QueueUnavailable) as error:
        messages.error(request, f"Not started: {error}")
        return redirect(back)
    return redirect("dashboard:shadow_detail", run_id=run.id)


def rate_limited_page(request: HttpRequest, error: RateLimited, *, back: str) -> HttpResponse:
    response = render(request, "dashboard/rate_limited.html", {"message": str(error), "back": back}, status=429)
    response["Retry-After"] = str(error.retry_after)
    return response


def _requeue(request: AuthenticatedHttpRequest, *, back: str) -> HttpResponseBase:
    """Requeue the failed items matching the explorer's filters (posted with the form), bounded per request."""
    form = ExplorerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing requeued: fix the filters first.")
        return redirect(back)
    item_filter = form.item_filter()
    if export.export_needs_staff(item_filter) and not request.user.is_staff:
        messages.error(request, "Nothing requeued: a text filter reads every item in the table, so it is for staff.")
        return redirect(back)
    try:
        outcome = services.failed_requeue(user=request.user, item_filter=item_filter)
    except RateLimited as error:
        return rate_limited_page(request, error, back=back)
    except StoreUnavailable as error:
        messages.error(request, f"Nothing changed: the results table cannot be reached ({error}).")
        return redirect(back)
    except QueueUnavailable as error:
        messages.error(request, f"The items were reset but could not be queued, so they are marked failed: {error}")
        return redirect(back)
    messages.success(request, services.requeue_message(outcome))
    return redirect(back)


@login_required
@require_POST
def result_cancel(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    """Cancel one queued or running item from its page; back to the page, which says what happened."""
    if not item_id_valid(item_id):
        raise Http404("No such result")
    try:
        cancel.submission_cancel(item_id=item_id, user=request.user, reason=request.POST.get("reason", ""))
    except ItemNotFound:
        raise Http404("No such result") from None
    except ItemConflict as error:
        messages.error(request, f"Not cancelled: {error}")
    except StoreUnavailable as error:
        messages.error(request, f"Not cancelled: the results table cannot be reached ({error}).")
    else:
        messages.success(request, "Cancelled: it will not be classified.")
    return redirect("dashboard:result_detail", item_id=item_id)


@login_required
@require_GET
def results_export(request: HttpRequest) -> HttpResponseBase:
    """Every result matching the filter as CSV, streamed: one DynamoDB page in memory at a time.

    A text filter makes that a read of the whole table: staff only (403 with the reason otherwise).
    """
    form = ExplorerForm(request.GET)
    form.is_valid()
    item_filter = form.item_filter()
    if export.export_needs_staff(item_filter) and not request.user.is_staff:
        return HttpResponse(export.STAFF_ONLY_MESSAGE, status=403, content_type="text/plain; charset=utf-8")
    try:
        dynamodb.store_ping()  # fail before the download starts, while a status code can still say so
    except StoreUnavailable as error:
        return HttpResponse(
            f"The results table cannot be read right now: {error}", status=503, content_type="text/plain"
        )
    return csv_download(selectors.explorer_iter(item_filter=item_filter), name="results")


@login_required
@require_POST
def results_columns(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Remember which explorer columns this user shows."""
    columns = columns_clean(request.POST.getlist("columns"))
    services.preference_set(user=request.user, key=COLUMNS_PREFERENCE, value=columns)
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"columns": columns})
    return redirect(_back(request))


@login_required
@require_GET
def result_detail(request: HttpRequest, item_id: str) -> HttpResponse:
    if not item_id_valid(item_id):
        raise Http404("No such result")
    try:
        item = selectors.submission_get(item_id=item_id)
    except ItemNotFound:
        raise Http404("No such result") from None
    except StoreUnavailable as error:
        return render(
            request, "dashboard/result_detail.html", {"store_error": str(error), "item_id": item_id}, status=503
        )
    context = {
        "item": item,
        "timings": selectors.item_timings(item),
        "probabilities": selectors.item_probabilities(item),
        "metrics": selectors.model_metrics(model=item.get("model")) if item.get("model") else None,
        "active": item["status"] in selectors.ACTIVE_STATUSES,
        "hold_notice": hold_notice() if item["status"] == "queued" else None,
        "label_names": item_label_names(item),
        "can_cancel": item["status"] in dynamodb.CANCELLABLE
        and cancel.item_cancel_allowed(item=item, user=request.user),
        "extra_fields": sorted(
            (key, value) for key, value in item.items() if key not in dynamodb.ITEM_FIELDS and key != "dom_id"
        ),
    }
    return render_page_or_fragment(
        request, page="dashboard/result_detail.html", fragment="dashboard/result_detail_fields.html", context=context
    )
