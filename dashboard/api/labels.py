"""People's labels over the API: label one item or many, a model's evaluation, and the labelled items as CSV.

Registered before the submissions router, whose `/submissions/{path:item_id}` would otherwise take
`<id>/label` as an id.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Router

from dashboard import selectors
from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed, unavailable
from dashboard.api.schemas import (
    Error,
    Evaluation,
    LabelRequest,
    LabelsApplied,
    LabelsRequest,
    RateLimitedError,
    Result,
    TooLarge,
    request_parse,
)
from dashboard.api.submissions import json_body
from dashboard.auth import AuthenticatedHttpRequest, api_error
from dashboard.exceptions import InvalidLabel, ItemConflict, ItemNotFound, StoreUnavailable
from dashboard.labels import evaluation, export, services
from dashboard.validators import item_id_valid

router = Router(tags=["labels"])

NO_SUCH = "No submission with that id."


@router.put(
    "/submissions/{item_id}/label",
    url_name="api_submission_label",
    summary="Set a done item's true label",
    description=(
        "A person's verdict on the result: the label the item should have had, by id or name. It is kept "
        "beside the model's label (`human_label`, `labelled_by`, `labelled_at`) and counts in the model's "
        "evaluation. Setting another label replaces it. An item that is not done, or that someone labelled "
        "meanwhile, is a 409. Each label counts against LABELS_PER_MINUTE."
    ),
    operation_id="labelSubmission",
    openapi_extra=json_request(LabelRequest),
    response={
        200: Result,
        400: Error,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        404: Error,
        409: Error,
        413: TooLarge,
        415: Error,
        429: RateLimitedError,
        503: Error,
    },
)
def api_submission_label(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    body = request_parse(LabelRequest, json_body(request, example=f"label as application/json: {LabelRequest.example}"))
    if not item_id_valid(item_id):
        return api_error(404, NO_SUCH)
    try:
        item = services.label_set(item_id=item_id, user=request.user, label=body.label)
    except ItemNotFound:
        return api_error(404, NO_SUCH)
    except InvalidLabel as error:
        return api_error(400, str(error), fields={"label": str(error)})
    except ItemConflict as error:
        return api_error(409, str(error))
    except StoreUnavailable as error:
        raise unavailable(f"Not labelled: {error}") from None
    return JsonResponse(selectors.submission_public(item))


@router.delete(
    "/submissions/{item_id}/label",
    url_name="api_submission_label_delete",
    summary="Take a person's label off an item",
    description="The item goes back to the review queue and out of its model's evaluation.",
    operation_id="unlabelSubmission",
    response={200: Result, 401: UNAUTHORIZED, 403: CSRF_REFUSED, 404: Error, 409: Error, 503: Error},
)
def api_submission_label_delete(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    if not item_id_valid(item_id):
        return api_error(404, NO_SUCH)
    try:
        item = services.label_undo(item_id=item_id, user=request.user, restore=None)
    except ItemNotFound:
        return api_error(404, NO_SUCH)
    except ItemConflict as error:
        return api_error(409, str(error))
    except StoreUnavailable as error:
        raise unavailable(f"Not changed: {error}") from None
    return JsonResponse(selectors.submission_public(item))


def _no_such_submission(request: HttpRequest, item_id: str) -> HttpResponse:
    # A GET here reads the item "<id>/label", as it did before this route: no id has a slash.
    return api_error(404, NO_SUCH)


router.add_api_operation("/submissions/{item_id}/label", ["GET"], _no_such_submission, include_in_schema=False)
not_allowed(router, "/submissions/{item_id}/label", allowed=["PUT", "DELETE", "GET"], view=api_submission_label)


@router.post(
    "/labels",
    url_name="api_labels",
    summary="Give many done items the same true label",
    description=(
        "At most LABELS_MAX_SELECTION ids per request, each charged against LABELS_PER_MINUTE. Items that "
        "are missing, not done or changed meanwhile are left alone and counted in `left`."
    ),
    operation_id="labelSubmissions",
    openapi_extra=json_request(LabelsRequest),
    response={
        200: LabelsApplied,
        400: Error,
        401: UNAUTHORIZED,
        403: CSRF_REFUSED,
        413: TooLarge,
        415: Error,
        429: RateLimitedError,
        503: Error,
    },
)
def api_labels(request: AuthenticatedHttpRequest) -> HttpResponse:
    body = request_parse(
        LabelsRequest, json_body(request, example=f"labels as application/json: {LabelsRequest.example}")
    )
    bad = [item_id for item_id in body.ids if not isinstance(item_id, str) or not item_id_valid(item_id)]
    if bad:
        return api_error(400, f"Not an item id: {bad[0][:130]!r}.", fields={"ids": "not an item id"})
    try:
        outcome = services.labels_set(item_ids=body.ids, user=request.user, label=body.label)
    except InvalidLabel as error:
        return api_error(400, str(error), fields={"label": str(error)})
    except StoreUnavailable as error:
        raise unavailable(f"Not labelled: {error}") from None
    return JsonResponse({"labelled": len(outcome["labelled"]), "left": len(outcome["left"])})


not_allowed(router, "/labels", allowed=["POST"], view=api_labels)


@router.get(
    "/labels.csv",
    url_name="api_labels_csv",
    summary="The labelled items as a training CSV",
    description=(
        "`text,label` with the people's labels, one row per labelled item (optionally of one `model`): what "
        "`manage.py train_classifier --data` takes as it is."
    ),
    operation_id="exportLabels",
    response={200: str, 401: UNAUTHORIZED, 503: Error},
)
def api_labels_csv(request: AuthenticatedHttpRequest, model: str | None = None) -> HttpResponseBase:
    try:
        rows = export.training_rows(model=model or None)
    except StoreUnavailable as error:
        return api_error(503, str(error))
    return StreamingHttpResponse(export.training_csv(rows), content_type="text/csv; charset=utf-8")


not_allowed(router, "/labels.csv", allowed=["GET"], view=api_labels_csv)


@router.get(
    "/models/{path:model_id}/evaluation",
    url_name="api_model_evaluation",
    summary="A model's accuracy against people's labels",
    description=(
        "Accuracy (with its Wilson 95 % interval), macro-F1, the confusion matrix (true label → predicted "
        "label → count), a reliability diagram and the labels week by week, from the items people labelled. "
        "`model_id` is the model as results name it. A model nobody has labelled items of has `labelled` 0."
    ),
    operation_id="getModelEvaluation",
    tags=["models"],
    response={200: Evaluation, 401: UNAUTHORIZED},
)
def api_model_evaluation(request: AuthenticatedHttpRequest, model_id: str) -> HttpResponse:
    return JsonResponse(evaluation.model_evaluation(model=model_id))


not_allowed(router, "/models/{path:model_id}/evaluation", allowed=["GET"], view=api_model_evaluation)
