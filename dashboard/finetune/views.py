"""The fine-tune pages: start a run (the Models page's form), follow it live, cancel it. Staff only."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from dashboard.auth import AuthenticatedHttpRequest
from dashboard.exceptions import FineTuneRefused, QueueUnavailable, StoreUnavailable
from dashboard.finetune import data, services
from dashboard.finetune.models import FineTuneRun
from dashboard.finetune.selectors import run_view
from dashboard.views.fragments import render_page_or_fragment
from dashboard.views.power import staff_required

FORM_PARAMETERS = ("epochs", "lr", "batch_size", "max_length", "seed", "val_fraction", "max_seconds")


@staff_required
@require_POST
def finetune_start(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        rows, summary = _rows(request)
        run = services.finetune_start(
            user=request.user,
            name=request.POST.get("name", ""),
            base=request.POST.get("base", ""),
            rows=data.rows_check(rows),
            data_summary=summary,
            parameters={name: request.POST.get(name) for name in FORM_PARAMETERS if request.POST.get(name)},
        )
    except FineTuneRefused as error:
        messages.error(request, f"Not started: {error}")
        return redirect("dashboard:models")
    except (QueueUnavailable, StoreUnavailable) as error:
        messages.error(request, f"Not started: {error}")
        return redirect("dashboard:models")
    messages.success(request, f"Fine-tune queued on {run.rows:,} rows; it starts when a worker host is free.")
    return redirect("dashboard:finetune_detail", run_id=run.id)


def _rows(request: HttpRequest) -> tuple[list[list[Any]], str]:
    rows: list[list[Any]] = []
    parts = []
    upload = request.FILES.get("file")
    if upload is not None:
        uploaded = data.rows_from_upload(upload.read(), filename=upload.name or "the file")
        rows += uploaded
        parts.append(f"{len(uploaded):,} rows of {upload.name}")
    if request.POST.get("use_labels"):
        labelled = data.rows_from_labels()
        rows += labelled
        parts.append(f"{len(labelled):,} items people labelled")
    if not parts:
        raise FineTuneRefused("Upload a training CSV, or train on the items people labelled, or both.")
    return rows, " and ".join(parts)


@staff_required
@require_GET
def finetune_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = FineTuneRun.objects.filter(pk=run_id).select_related("model_version", "created_by").first()
    if run is None:
        raise Http404("No such fine-tune")
    return render_page_or_fragment(
        request,
        page="dashboard/finetune_detail.html",
        fragment="dashboard/finetune_progress.html",
        context=run_view(run),
    )


@staff_required
@require_POST
def finetune_cancel(request: AuthenticatedHttpRequest, run_id: str) -> HttpResponse:
    run = FineTuneRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such fine-tune")
    try:
        run = services.finetune_cancel(run=run, user=request.user)
    except (FineTuneRefused, QueueUnavailable) as error:
        messages.error(request, f"Not cancelled: {error}")
    else:
        messages.success(
            request, "Cancelled." if run.status == "cancelled" else "Cancelling: it stops at its next step."
        )
    return redirect("dashboard:finetune_detail", run_id=run_id)
