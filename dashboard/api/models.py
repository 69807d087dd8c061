"""The model registry over the API: list versions, register one, promote one, roll back (staff for writes)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from ninja import Router

from dashboard import audit
from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed, unavailable
from dashboard.api.schemas import Error, ModelRegisterRequest, ModelsList, ModelVersionOut, TooLarge, request_parse
from dashboard.api.submissions import json_body
from dashboard.auth import AuthenticatedHttpRequest, api_error
from dashboard.exceptions import QueueUnavailable, RegistryError
from dashboard.registry import selectors, services

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
    if request.user.is_staff:
        return None
    audit.audit_record(
        kind="model", actor=request.user, action=action, target=target, outcome="refused", detail="staff only"
    )
    return api_error(403, "Only staff can change which model serves.")


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
