"""The labelling pages: a result's label form, review mode, the Models page and the training CSV.

Review mode walks the done items nobody has labelled, least confident first (the `by_review`
index): a button per label (keys 1-9), skip (S) and undo (U). Every step is a plain form post
and a redirect, so it works without JavaScript; static/js/review.js only maps the keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from classifier.contracts import model_display_name
from dashboard import selectors
from dashboard.auth import AuthenticatedHttpRequest
from dashboard.aws import dynamodb
from dashboard.exceptions import InvalidLabel, ItemConflict, ItemNotFound, RateLimited, StoreUnavailable
from dashboard.finetune.models import FineTuneRun
from dashboard.finetune.services import finetune_sync
from dashboard.labels import evaluation, export, services
from dashboard.labels.vocabulary import item_label_names
from dashboard.registry import selectors as registry
from dashboard.registry.models import ShadowRun
from dashboard.registry.shadow import shadow_sync
from dashboard.validators import item_id_valid

REVIEW_KEYS = "123456789"


def configured_model_name() -> str:
    """The name results of the configured model carry."""
    return model_display_name(settings.CLASSIFIER_MODEL)


def _model_names(labelled: list[dict[str, Any]] | None = None) -> list[str]:
    """The serving version (or the configured model), the registered versions, then any model with labels."""
    rows = evaluation.models_labelled() if labelled is None else labelled
    serving = registry.version_serving()
    first = serving.id if serving else configured_model_name()
    versions = [version.id for version in registry.versions_all()]
    return list(dict.fromkeys([first, *versions, *(row["model"] for row in rows)]))


@login_required
@require_POST
def result_label(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    """Set (or, with an empty label, take off) a result's true label from its page."""
    if not item_id_valid(item_id):
        raise Http404("No such result")
    label = request.POST.get("label", "")
    try:
        if label:
            item = services.label_set(item_id=item_id, user=request.user, label=label)
            messages.success(request, f"Labelled {item['human_label_name']}.")
        else:
            services.label_undo(item_id=item_id, user=request.user, restore=None)
            messages.success(request, "The label is off.")
    except ItemNotFound:
        raise Http404("No such result") from None
    except (InvalidLabel, ItemConflict) as error:
        messages.error(request, f"Not labelled: {error}")
    except RateLimited as error:
        messages.error(request, f"Not labelled: {error}")
    except StoreUnavailable as error:
        messages.error(request, f"Not labelled: the results table cannot be reached ({error}).")
    return redirect("dashboard:result_detail", item_id=item_id)


def _after(raw: str) -> tuple[float, str] | None:
    """A skip position, `confidence:id`, from the query string; None when absent or malformed."""
    confidence, _, item_id = raw.partition(":")
    try:
        value = float(confidence)
    except ValueError:
        return None
    return (value, item_id) if 0 <= value <= 1 and item_id_valid(item_id) else None


def _review_item(*, model: str, after: tuple[float, str] | None, wanted: str) -> dict[str, Any] | None:
    """The item to show: `wanted` while it is still done and unlabelled (after an undo), else the queue's head."""
    if wanted and item_id_valid(wanted):
        try:
            item = dynamodb.item_get(item_id=wanted)
        except ItemNotFound:
            item = None
        if item and item["status"] == "done" and not item.get("human_label_name") and item.get("model") == model:
            return item
    found = dynamodb.review_queue(model=model, limit=1, after=after)
    return found[0] if found else None


@login_required
@require_GET
def review(request: HttpRequest) -> HttpResponse:
    model = (request.GET.get("model") or "").strip()[:500] or configured_model_name()
    after = _after(request.GET.get("after", ""))
    context: dict[str, Any] = {
        "model": model,
        "models": list(
            dict.fromkeys([configured_model_name(), *(row["model"] for row in evaluation.models_labelled())])
        ),
        "item": None,
        "store_error": None,
        "after": request.GET.get("after", "") if after else "",
        "last": request.GET.get("last", ""),
        "last_label": request.GET.get("last_label", ""),
        "previous": request.GET.get("previous", ""),
    }
    try:
        item = _review_item(model=model, after=after, wanted=request.GET.get("item", ""))
    except StoreUnavailable as error:
        context["store_error"] = str(error)
        return render(request, "dashboard/review.html", context, status=503)
    if item is not None:
        names = item_label_names(item)
        context |= {
            "item": item,
            "buttons": list(zip(REVIEW_KEYS, names, strict=False)),
            "probabilities": selectors.item_probabilities(item),
            "skip_query": urlencode({"model": model, "after": f"{item['confidence']!r}:{item['id']}"}),
        }
    return render(request, "dashboard/review.html", context)


def _review_url(**params: str) -> str:
    return reverse("dashboard:review") + "?" + urlencode({key: value for key, value in params.items() if value})


@login_required
@require_POST
def review_label(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Label the item shown and go on to the next; the answer carries what undo needs."""
    item_id, model = request.POST.get("item_id", ""), request.POST.get("model", "")[:500]
    after = request.POST.get("after", "")
    if not item_id_valid(item_id):
        messages.error(request, "No such result.")
        return redirect(_review_url(model=model, after=after))
    try:
        before = dynamodb.item_get(item_id=item_id)
        item = services.label_set(item_id=item_id, user=request.user, label=request.POST.get("label", ""))
    except ItemNotFound:
        messages.error(request, "That result is gone.")
    except (InvalidLabel, ItemConflict, RateLimited) as error:
        messages.error(request, f"Not labelled: {error}")
    except StoreUnavailable as error:
        messages.error(request, f"Not labelled: the results table cannot be reached ({error}).")
    else:
        return redirect(
            _review_url(
                model=model,
                after=after,
                last=item_id,
                last_label=item["human_label_name"],
                previous=before.get("human_label_name") or "",
            )
        )
    return redirect(_review_url(model=model, after=after))


@login_required
@require_POST
def review_undo(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Undo the last label: put back the label the item had before (usually none) and show it again."""
    item_id, model = request.POST.get("item_id", ""), request.POST.get("model", "")[:500]
    after = request.POST.get("after", "")
    if not item_id_valid(item_id):
        return redirect(_review_url(model=model, after=after))
    try:
        services.label_undo(item_id=item_id, user=request.user, restore=request.POST.get("previous") or None)
    except ItemNotFound:
        messages.error(request, "That result is gone.")
    except (InvalidLabel, ItemConflict, RateLimited) as error:
        messages.error(request, f"Not undone: {error}")
    except StoreUnavailable as error:
        messages.error(request, f"Not undone: the results table cannot be reached ({error}).")
    else:
        messages.success(request, "Undone.")
    return redirect(_review_url(model=model, after=after, item=item_id))


@login_required
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    """The registry's versions, every model with labelled items, and one model's live evaluation."""
    labelled = evaluation.models_labelled()
    names = _model_names(labelled)
    model = (request.GET.get("model") or "").strip()[:500] or names[0]
    report = evaluation.model_evaluation(model=model)
    cells = [
        {
            "truth": truth,
            "cells": [
                {
                    "predicted": guess,
                    "count": count,
                    "diagonal": truth == guess,
                    "query": urlencode({"model": model, "label": guess, "human_label": truth}),
                }
                for guess, count in report["confusion_matrix"][truth].items()
            ],
        }
        for truth in report["labels"]
    ]
    return render(
        request,
        "dashboard/models.html",
        {
            "models": _listing(names, labelled),
            "configured": configured_model_name(),
            "model": model,
            "report": report,
            "rows": cells,
            "reliability": [_plotted(point, labelled=report["labelled"]) for point in report["reliability"]],
            "over_time": [
                week | {"ordered": [week["shares"].get(name, 0.0) for name in report["labels"]]}
                for week in report["over_time"]
            ],
            "metrics": selectors.model_metrics(model=model),
            "versions": registry.versions_all(),
            "serving": registry.version_serving(),
            "can_roll_back": registry.version_previous() is not None,
            "runs": _runs_recent() if request.user.is_staff else [],
            "shadows": _shadows_recent() if request.user.is_staff else [],
            "labelled_total": sum(row["labelled"] for row in labelled),
        },
    )


def _runs_recent() -> list[Any]:
    return [finetune_sync(run) for run in FineTuneRun.objects.select_related("model_version")[:10]]


def _shadows_recent() -> list[Any]:
    return [shadow_sync(run) for run in ShadowRun.objects.all()[:10]]


def _listing(names: list[str], labelled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row per model name; one nobody has labelled results of has zeros."""
    rows = {row["model"]: row for row in labelled}
    empty = {"labelled": 0, "correct": 0, "accuracy": None, "last_labelled_at": None}
    return [rows.get(name) or {"model": name} | empty for name in names]


def _plotted(point: dict[str, Any], *, labelled: int) -> dict[str, Any]:
    """A reliability bin with its place in the 100 × 100 plot; its area follows its share of the items."""
    radius = 1.5 + 4.5 * (point["count"] / labelled) ** 0.5 if labelled else 1.5
    return point | {
        "x": round(100 * point["confidence"], 2),
        "y": round(100 - 100 * point["accuracy"], 2),
        "r": round(radius, 2),
    }


@login_required
@require_GET
def labels_export(request: HttpRequest) -> HttpResponseBase:
    """The labelled items (of one model, with `?model=`) as a training CSV."""
    model = (request.GET.get("model") or "").strip()[:500] or None
    try:
        rows = export.training_rows(model=model)
    except StoreUnavailable as error:
        return HttpResponse(
            f"The results table cannot be read right now: {error}", status=503, content_type="text/plain"
        )
    response = StreamingHttpResponse(export.training_csv(rows), content_type="text/csv; charset=utf-8")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="labelled-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
