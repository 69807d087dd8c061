"""Bulk submission: upload a CSV or paste lines, follow the batch's progress, download its results,
cancel what is left of it, requeue what failed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard import cancel, csv_upload, selectors, services
from dashboard.auth import AuthenticatedHttpRequest
from dashboard.exceptions import BatchConflict, BatchRejected, QueueUnavailable, RateLimited, StoreUnavailable
from dashboard.explorer import BatchForm
from dashboard.metrics.submissions import submission_counted
from dashboard.ratelimit import rate_limited, submissions_charge
from dashboard.views.fragments import render_page_or_fragment
from dashboard.views.results import csv_download, rate_limited_page

log = logging.getLogger(__name__)


def _parse_form(form: BatchForm) -> tuple[csv_upload.ParsedBatch, str, str]:
    upload = form.cleaned_data.get("file")
    if upload:
        if upload.size > settings.BATCH_MAX_BYTES:
            too_big = f"The file is {upload.size:,} bytes; the limit is {settings.BATCH_MAX_BYTES:,}. Split it."
            return csv_upload.refused(too_big), "csv", upload.name
        return csv_upload.parse_csv(upload), "csv", upload.name
    return csv_upload.parse_lines(form.cleaned_data["lines"]), "paste", ""


def _problems_context(problems: list[tuple[int | None, str]], total: int | None = None) -> dict:
    shown = problems[: csv_upload.MAX_PROBLEMS_SHOWN]
    return {"problems": shown, "more_problems": (len(problems) if total is None else total) - len(shown)}


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited(api=False)
@submission_counted(kind="batch")
def batch_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE never gets here: dashboard.middleware answers it with a 413 page.
    form = BatchForm(request.POST or None, request.FILES or None)
    context: dict = {"form": form, "recent": selectors.batch_recent(limit=20), "limits": _limits()}
    if request.method != "POST" or not form.is_valid():
        return render(request, "dashboard/batch_new.html", context, status=400 if form.errors else 200)
    parsed, source, filename = _parse_form(form)
    if not parsed.ok:
        context |= _problems_context(parsed.problems, parsed.problem_count)
        if parsed.over_limit:  # megabytes of pasted text are not echoed back: it is split, not fixed here
            context["form"] = BatchForm()
        return render(request, "dashboard/batch_new.html", context, status=400)
    submissions_charge(user=request.user, cost=len(parsed.rows))  # by items, not requests: a batch costs its rows
    try:
        batch = services.batch_create(rows=parsed.rows, source=source, submitted_by=request.user, filename=filename)
    except BatchConflict as error:
        message = f"{error} Give those rows other ids, or leave the id column out to have ids made for you."
        context |= _problems_context(error.problems) | {"rejected_message": message}
        return render(request, "dashboard/batch_new.html", context, status=409)
    except BatchRejected as error:
        context |= _problems_context(error.problems) | {"rejected_message": str(error)}
        return render(request, "dashboard/batch_new.html", context, status=400)
    except (StoreUnavailable, QueueUnavailable) as error:
        form.add_error(None, f"Nothing was submitted: {error}")
        return render(request, "dashboard/batch_new.html", context, status=503)
    return redirect("dashboard:batch_detail", batch_id=batch.id)


def _limits() -> dict:
    return {"bytes": settings.BATCH_MAX_BYTES, "rows": settings.BATCH_MAX_ROWS, "chars": settings.SUBMISSION_MAX_CHARS}


def _batch_or_404(batch_id: str):
    batch = selectors.batch_get(batch_id=batch_id)
    if batch is None:
        raise Http404("No such batch")
    return batch


def _progress_context(batch) -> dict:
    store_error = None
    try:
        counts = services.batch_progress(batch=batch)
    except StoreUnavailable as error:
        counts, store_error = batch.counts, str(error)
    return {"batch": batch, "progress": selectors.batch_public(batch, counts), "store_error": store_error}


@login_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = _batch_or_404(batch_id)
    return render_page_or_fragment(
        request,
        page="dashboard/batch_detail.html",
        fragment="dashboard/batch_progress.html",
        context=_progress_context(batch) | {"can_act": cancel.batch_cancel_allowed(batch=batch, user=request.user)},
    )


@login_required
@require_GET
def batch_download(request: HttpRequest, batch_id: str) -> StreamingHttpResponse:
    batch = _batch_or_404(batch_id)
    return csv_download(selectors.batch_items(batch_id=batch.id), name=f"batch-{batch.id[:8]}")


@login_required
@require_POST
def batch_cancel(request: AuthenticatedHttpRequest, batch_id: str) -> HttpResponse:
    """Cancel every queued or running item of the batch; its finished items keep their results."""
    batch = _batch_or_404(batch_id)
    if not cancel.batch_cancel_allowed(batch=batch, user=request.user):
        raise Http404("No such batch")
    try:
        outcome = cancel.batch_cancel(batch=batch, user=request.user, reason=request.POST.get("reason", ""))
    except StoreUnavailable as error:
        messages.error(request, f"Not cancelled: the results table cannot be reached ({error}).")
    else:
        if outcome["cancelled"]:
            messages.success(request, f"Cancelled {len(outcome['cancelled'])} queued or running item(s).")
        else:
            messages.info(request, "Nothing to cancel: no item of this batch is queued or running.")
    return redirect("dashboard:batch_detail", batch_id=batch.id)


@login_required
@require_POST
def batch_requeue(request: AuthenticatedHttpRequest, batch_id: str) -> HttpResponse:
    """Requeue the batch's failed items, at most REQUEUE_MAX_ITEMS at a time."""
    batch = _batch_or_404(batch_id)
    if not cancel.batch_cancel_allowed(batch=batch, user=request.user):
        raise Http404("No such batch")
    back = reverse("dashboard:batch_detail", args=[batch.id])
    try:
        outcome = services.failed_requeue(user=request.user, batch_id=batch.id)
    except RateLimited as error:
        return rate_limited_page(request, error, back=back)
    except StoreUnavailable as error:
        messages.error(request, f"Nothing changed: the results table cannot be reached ({error}).")
    except QueueUnavailable as error:
        messages.error(request, f"The items were reset but could not be queued, so they are marked failed: {error}")
    else:
        messages.success(request, services.requeue_message(outcome))
    return redirect(back)
