"""The model registry over the API: list versions, register one, promote one, roll back, and shadow
comparisons (staff for everything but the list)."""

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
from dashboard.api.schemas import (
    Error,
    ModelRegisterRequest,
    ModelsList,
    ModelVersionOut,
    Shadow,
    ShadowRequest,
    TooLarge,
    request_parse,
)
from dashboard.api.submissions import json_body
from dashboard.auth import AuthenticatedHttpRequest, api_error
from dashboard.exceptions import QueueUnavailable, RegistryError, StoreUnavailable
from dashboard.explorer import ExplorerForm
from dashboard.registry import selectors, services, shadow
from dashboard.registry.models import ShadowRun
from dashboard.validators import item_id_valid

router = Router(tags=["models"])

WRITE_ERRORS = {
    400: Error,
    401: UNAUTHORIZED,
    403: Error,
    404: Error,
    409: Error,
    413: TooLarge,
    415: Error,
    503: Error,
}


def _staff_only(request: AuthenticatedHttpRequest, *, action: str, target: str) -> HttpResponse | None:
    return staff_refusal(request, action=action, target=target, message="Only staff can change which model serves.")


@router.get(
    "/models",
    url_name="api_models",
    summary="Every registered model version, and which one serves",
    operation_id="listModels",
    response={200: ModelsList, 401: UNAUTHORIZED},
)
def api_models(request: AuthenticatedHttpRequest) -> HttpResponse:
    serving = selectors.version_serving()
    return JsonResponse(
        {
            "serving": serving.id if serving else None,
            "models": [selectors.version_public(version) for version in selectors.versions_all()],
        }
    )


@router.post(
    "/models",
    url_name="api_model_register",
    summary="Register a new version of a model (staff)",
    description="It becomes a candidate numbered after the name's last version; promote it to serve it.",
    operation_id="registerModel",
    openapi_extra=json_request(ModelRegisterRequest),
    response={201: ModelVersionOut, **WRITE_ERRORS, 403: CSRF_REFUSED},
)
def api_model_register(request: AuthenticatedHttpRequest) -> HttpResponse:
    body = request_parse(
        ModelRegisterRequest, json_body(request, example=f"model as application/json: {ModelRegisterRequest.example}")
    )
    refused = _staff_only(request, action="model register", target=body.name[:100])
    if refused:
        return refused
    try:
        version = services.model_register(
            name=body.name,
            source=body.source,
            user=request.user,
            training_data=body.training_data,
            parameters=body.parameters,
        )
    except RegistryError as error:
        return api_error(400, str(error))
    return JsonResponse(selectors.version_public(version), status=201)


not_allowed(router, "/models", allowed=["GET", "POST"], view=api_models)


@router.post(
    "/models/rollback",
    url_name="api_model_rollback",
    summary="Serve the version that served before (staff)",
    operation_id="rollbackModel",
    response={200: ModelVersionOut, **WRITE_ERRORS, 403: CSRF_REFUSED},
)
def api_model_rollback(request: AuthenticatedHttpRequest) -> HttpResponse:
    body_read(request)
    refused = _staff_only(request, action="model rollback", target="serving")
    if refused:
        return refused
    try:
        version = services.model_rollback(user=request.user)
    except RegistryError as error:
        return api_error(409, str(error))
    except QueueUnavailable as error:
        raise unavailable(f"Not rolled back: {error}") from None
    return JsonResponse(selectors.version_public(version))


not_allowed(router, "/models/rollback", allowed=["POST"], view=api_model_rollback)


@router.post(
    "/models/{version_id}/promote",
    url_name="api_model_promote",
    summary="Serve this version (staff)",
    description=(
        "Every worker finishes the job it has, loads this version and goes on; a worker that cannot load it "
        "keeps serving the version it had and says why on the Fleet page. Audited."
    ),
    operation_id="promoteModel",
    response={200: ModelVersionOut, **WRITE_ERRORS, 403: CSRF_REFUSED},
)
def api_model_promote(request: AuthenticatedHttpRequest, version_id: str) -> HttpResponse:
    body_read(request)
    refused = _staff_only(request, action="model promote", target=version_id[:100])
    if refused:
        return refused
    if not selectors.version_exists(version_id=version_id):
        return api_error(404, "No model version with that id.")
    try:
        version = services.model_promote(version_id=version_id, user=request.user)
    except RegistryError as error:
        return api_error(409, str(error))
    except QueueUnavailable as error:
        raise unavailable(f"Not promoted: {error}") from None
    return JsonResponse(selectors.version_public(version))


not_allowed(router, "/models/{version_id}/promote", allowed=["POST"], view=api_model_promote)


def _shadow_public(run: ShadowRun) -> dict[str, Any]:
    report = shadow.shadow_report(run)
    return {
        "id": run.id,
        "candidate": run.candidate_id,
        "scope": run.scope,
        "status": run.status,
        "items": len(run.item_ids),
        "error": run.error,
        **{
            name: report[name]
            for name in (
                "compared",
                "differ",
                "agreement",
                "labelled",
                "current_accuracy",
                "candidate_accuracy",
                "candidate_ms_per_text",
                "serving_ms_per_text",
                "differing",
            )
        },
    }


@router.post(
    "/models/{version_id}/shadow",
    url_name="api_model_shadow",
    summary="Run a version beside the results on chosen items (staff)",
    description=(
        "Its answers are kept on the items as `shadow_*`; nobody's results change. Choose the items one way: "
        "`ids`, `labelled` (every labelled item) or `filter` (the done items the explorer's filters match); at "
        "most SHADOW_MAX_ITEMS. Follow it at /api/v1/shadows/<id>."
    ),
    operation_id="shadowModel",
    openapi_extra=json_request(ShadowRequest),
    response={202: Shadow, **WRITE_ERRORS, 403: CSRF_REFUSED},
)
def api_model_shadow(request: AuthenticatedHttpRequest, version_id: str) -> HttpResponse:
    body = request_parse(
        ShadowRequest, json_body(request, example=f"items as application/json: {ShadowRequest.example}")
    )
    refused = _staff_only(request, action="shadow start", target=version_id[:100])
    if refused:
        return refused
    if not selectors.version_exists(version_id=version_id):
        return api_error(404, "No model version with that id.")
    if body.filter is not None:
        form = ExplorerForm({k: v for k, v in body.filter.model_dump().items() if v is not None})
        if not form.is_valid():
            fields = {f"filter.{name}": str(errors[0]) for name, errors in form.errors.items()}
            return api_error(400, " ".join(fields.values()), fields=fields)
        ids, scope = shadow.ids_matching(form.item_filter()), "the done items a filter matches"
    elif body.labelled:
        ids, scope = shadow.ids_labelled(), "every labelled item"
    else:
        bad = [item_id for item_id in body.ids if not item_id_valid(item_id)]
        if bad:
            return api_error(400, f"Not an item id: {bad[0][:130]!r}.", fields={"ids": "not an item id"})
        ids, scope = body.ids, f"{len(body.ids):,} chosen items"
    try:
        run = shadow.shadow_start(user=request.user, version_id=version_id, item_ids=ids, scope=scope)
    except RegistryError as error:
        return api_error(400, str(error))
    except (QueueUnavailable, StoreUnavailable) as error:
        raise unavailable(f"Not started: {error}") from None
    return JsonResponse(_shadow_public(run), status=202)


not_allowed(router, "/models/{version_id}/shadow", allowed=["POST"], view=api_model_shadow)


@router.get(
    "/shadows/{run_id}",
    url_name="api_shadow",
    summary="A shadow comparison's report (staff)",
    operation_id="getShadow",
    response={200: Shadow, 401: UNAUTHORIZED, 403: Error, 404: Error},
)
def api_shadow(request: AuthenticatedHttpRequest, run_id: str) -> HttpResponse:
    if not request.user.is_staff:
        return api_error(403, "Only staff can read shadow comparisons.")
    run = ShadowRun.objects.filter(pk=run_id).first()
    if run is None:
        return api_error(404, "No comparison with that id.")
    return JsonResponse(_shadow_public(shadow.shadow_sync(run)))


not_allowed(router, "/shadows/{run_id}", allowed=["GET"], view=api_shadow)
