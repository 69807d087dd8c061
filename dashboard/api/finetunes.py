"""Fine-tuning over the API: start a run, follow it, cancel it (staff only)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from ninja import Router

from dashboard.api.responses import (
    CSRF_REFUSED,
    UNAUTHORIZED,
    body_read,
    json_request,
    not_allowed,
    staff_refusal,
    unavailable,
)
from dashboard.api.schemas import Error, FineTune, FineTuneRequest, TooLarge, request_parse
from dashboard.api.submissions import json_body
from dashboard.auth import AuthenticatedHttpRequest, api_error
from dashboard.exceptions import FineTuneRefused, QueueUnavailable, StoreUnavailable
from dashboard.finetune import data, services
from dashboard.finetune.models import FineTuneRun
from dashboard.finetune.selectors import run_view

router = Router(tags=["models"])


def _public(view: dict[str, Any]) -> dict[str, Any]:
    run, progress = view["run"], view["progress"]

    def number(name: str, kind: type = int) -> Any:
        try:
            return kind(float(progress[name])) if progress.get(name) else None
        except ValueError:
            return None

    return {
        "id": run.id,
        "name": run.name,
        "base": run.base,
        "status": run.status,
        "rows": run.rows,
        "data": run.data_summary,
        "parameters": run.parameters,
        "phase": progress.get("phase"),
        "step": number("step"),
        "total": number("total"),
        "epoch": number("epoch"),
        "epochs": number("epochs"),
        "loss": view["loss"],
        "percent": view["percent"],
        "seconds_left": view["seconds_left"],
        "error": run.error,
        "candidate": run.model_version_id,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _refused(request: AuthenticatedHttpRequest, *, action: str, target: str) -> HttpResponse | None:
    return staff_refusal(request, action=action, target=target, message="Only staff can fine-tune models.")


@router.post(
    "/finetunes",
    url_name="api_finetunes",
    summary="Start a fine-tune (staff)",
    description=(
        "It runs on the worker hosts, on the `training` queue, and ends as a registered candidate. Give `rows`, "
        "`use_labels` or both. A fixed share (`val_fraction`, seeded) is held out for its metrics."
    ),
    operation_id="startFineTune",
    openapi_extra=json_request(FineTuneRequest),
    response={202: FineTune, 400: Error, 401: UNAUTHORIZED, 403: CSRF_REFUSED, 413: TooLarge, 415: Error, 503: Error},
)
def api_finetunes(request: AuthenticatedHttpRequest) -> HttpResponse:
    body = request_parse(
        FineTuneRequest, json_body(request, example=f"fine-tune as application/json: {FineTuneRequest.example}")
    )
    refused = _refused(request, action="finetune start", target=body.name[:100])
    if refused:
        return refused
    rows = [[row.text, row.label, row.label_name or str(row.label)] for row in body.rows]
    parts = [f"{len(rows):,} rows sent over the API"] if rows else []
    try:
        if body.use_labels:
            labelled = data.rows_from_labels()
            rows += labelled
            parts.append(f"{len(labelled):,} items people labelled")
        if not parts:
            raise FineTuneRefused("Send rows, or use_labels, or both.")
        run = services.finetune_start(
            user=request.user,
            name=body.name,
            base=body.base,
            rows=data.rows_check(rows),
            data_summary=" and ".join(parts),
            parameters=body.parameters,
        )
    except FineTuneRefused as error:
        return api_error(400, str(error))
    except (QueueUnavailable, StoreUnavailable) as error:
        raise unavailable(f"Not started: {error}") from None
    return JsonResponse(_public(run_view(run)), status=202)


not_allowed(router, "/finetunes", allowed=["POST"], view=api_finetunes)


@router.get(
    "/finetunes/{run_id}",
    url_name="api_finetune",
    summary="A fine-tune's progress (staff)",
    operation_id="getFineTune",
    response={200: FineTune, 401: UNAUTHORIZED, 403: Error, 404: Error},
)
def api_finetune(request: AuthenticatedHttpRequest, run_id: str) -> HttpResponse:
    if not request.user.is_staff:
        return api_error(403, "Only staff can fine-tune models.")
    run = FineTuneRun.objects.filter(pk=run_id).first()
    if run is None:
        return api_error(404, "No fine-tune with that id.")
    return JsonResponse(_public(run_view(run)))


not_allowed(router, "/finetunes/{run_id}", allowed=["GET"], view=api_finetune)


@router.post(
    "/finetunes/{run_id}/cancel",
    url_name="api_finetune_cancel",
    summary="Cancel a fine-tune (staff)",
    description="A queued run never starts; a running one stops at its next step. Nothing is registered.",
    operation_id="cancelFineTune",
    response={200: FineTune, 401: UNAUTHORIZED, 403: Error, 404: Error, 409: Error, 413: TooLarge, 503: Error},
)
def api_finetune_cancel(request: AuthenticatedHttpRequest, run_id: str) -> HttpResponse:
    body_read(request)
    refused = _refused(request, action="finetune cancel", target=run_id[:100])
    if refused:
        return refused
    run = FineTuneRun.objects.filter(pk=run_id).first()
    if run is None:
        return api_error(404, "No fine-tune with that id.")
    try:
        run = services.finetune_cancel(run=run, user=request.user)
    except FineTuneRefused as error:
        return api_error(409, str(error))
    except QueueUnavailable as error:
        raise unavailable(f"Not cancelled: {error}") from None
    return JsonResponse(_public(run_view(run)))


not_allowed(router, "/finetunes/{run_id}/cancel", allowed=["POST"], view=api_finetune_cancel)
