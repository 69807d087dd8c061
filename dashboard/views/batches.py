"""Bulk submission: upload a CSV or paste lines, follow the batch's progress, download its results."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import csv_upload, selectors, services
from dashboard.auth import api_error, api_login_required
from dashboard.exceptions import BatchConflict, BatchRejected, QueueUnavailable, StoreUnavailable
from dashboard.explorer import BatchForm
from dashboard.ratelimit import rate_limited, submissions_charge
from dashboard.views.fragments import render_page_or_fragment
from dashboard.views.results import csv_download

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
def batch_new(request: HttpRequest) -> HttpResponse:
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
    return redirect("batch_detail", batch_id=batch.id)


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
        context=_progress_context(batch),
    )


@login_required
@require_GET
def batch_download(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = _batch_or_404(batch_id)
    return csv_download(selectors.batch_items(batch_id=batch.id), name=f"batch-{batch.id[:8]}")


# --- API ------------------------------------------------------------------------------------


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # as Django reads it: no body


def _api_parse(request: HttpRequest) -> tuple[csv_upload.ParsedBatch, str, str] | HttpResponse:
    """The batch in the request, refused by its declared size before a byte of it is read.

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE (a test may set it below the batch limit) raises
    RequestDataTooBig, which dashboard.middleware answers with a JSON 413.
    """
    length, limit = _content_length(request), settings.BATCH_MAX_BYTES
    if request.content_type == "multipart/form-data":
        if length > limit + settings.BATCH_FRAMING_BYTES:  # the framing around a file at the limit
            return api_error(413, f"The request is {length:,} bytes; the limit is {limit:,}.")
        upload = request.FILES.get("file")
        if upload is None:
            return api_error(400, "Send the CSV as a multipart field named 'file'.", fields={"file": "required"})
        if upload.size > limit:
            return api_error(413, f"The file is {upload.size:,} bytes; the limit is {limit:,}.")
        return csv_upload.parse_csv(upload), "api", upload.name
    if length > limit:
        return api_error(413, f"The request is {length:,} bytes; the limit is {limit:,}.")
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return api_error(400, "The body is not valid JSON.")
        return csv_upload.parse_api_body(body), "api", ""
    if request.content_type in {"text/csv", "application/csv"}:
        parsed = csv_upload.parse_csv(request)  # read from the request stream as it is parsed
        _discard_rest(request)
        return parsed, "api", ""
    return api_error(415, 'Send application/json {"texts": [...]}, text/csv, or multipart/form-data with a file.')


def _discard_rest(request: HttpRequest) -> None:
    """Read what the client is still sending of a body the parser stopped reading, without keeping it.

    Its size is within the limit (checked above). Left unread, the server closes the connection with
    data pending (gunicorn drains 64 KiB at most), and a client still sending gets a reset connection
    instead of the answer that says what is wrong.
    """
    while request.read(64 * 1024):
        pass


def _rejected(problems: list[tuple[int | None, str]], message: str, total: int | None = None) -> JsonResponse:
    context = _problems_context(problems, total)
    return api_error(
        400,
        message,
        problems=[{"row": row, "reason": reason} for row, reason in context["problems"]],
        more_problems=context["more_problems"],
    )


@api_login_required
@require_http_methods(["POST"])
@rate_limited(api=True)
def api_batches(request: HttpRequest) -> HttpResponse:
    parsed = _api_parse(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    parsed, source, filename = parsed
    if not parsed.ok:
        message = f"The batch was rejected ({parsed.problem_count} problem(s)); nothing stored."
        return _rejected(parsed.problems, message, parsed.problem_count)
    submissions_charge(user=request.user, cost=len(parsed.rows))  # counted by items (issue 7)
    try:
        batch = services.batch_create(rows=parsed.rows, source=source, submitted_by=request.user, filename=filename)
    except BatchConflict as error:
        return api_error(409, str(error), ids=error.ids)
    except BatchRejected as error:
        return _rejected(error.problems, str(error))
    except (StoreUnavailable, QueueUnavailable) as error:
        response = api_error(503, f"Nothing was submitted: {error}")
        response["Retry-After"] = "5"
        return response
    body = selectors.batch_public(batch, batch.counts) | {"url": reverse("api_batch_detail", args=[batch.id])}
    response = JsonResponse(body, status=202)
    response["Location"] = body["url"]
    return response


@api_login_required
@require_GET
def api_batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = selectors.batch_get(batch_id=batch_id)
    if batch is None:
        return api_error(404, "No batch with that id.")
    try:
        counts = services.batch_progress(batch=batch)
    except StoreUnavailable as error:
        return api_error(503, str(error))
    return JsonResponse(
        selectors.batch_public(batch, counts) | {"results_csv": reverse("api_batch_results", args=[batch.id])}
    )


@api_login_required
@require_GET
def api_batch_results(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = selectors.batch_get(batch_id=batch_id)
    if batch is None:
        return api_error(404, "No batch with that id.")
    return csv_download(selectors.batch_items(batch_id=batch.id), name=f"batch-{batch.id[:8]}")
