"""Pieces every operation shares: documented error responses, request bodies and the 405 routes."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.request import RawPostDataException
from django.http.response import HttpResponseBase
from ninja import Router
from pydantic import BaseModel

from dashboard import audit
from dashboard.api.schemas import Error
from dashboard.auth import ApiError, api_error

UNAUTHORIZED = Error  # no session and no valid bearer token
CSRF_REFUSED = Error  # a session request without its X-CSRFToken header
UNSAFE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]

# Request bodies are read by the operations themselves (the order of checks, CSV streaming), so
# their models are added to the document's components here rather than found in the signatures.
REQUEST_MODELS: dict[str, type[BaseModel]] = {}


def json_request(model: type[BaseModel], **other_content: Any) -> dict[str, Any]:
    REQUEST_MODELS[model.__name__] = model
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    return {"requestBody": {"required": True, "content": content | other_content}}


def body_read(request: HttpRequest) -> None:
    """Read the body of a route that takes none, so one past DATA_UPLOAD_MAX_MEMORY_SIZE is the JSON 413
    every route answers (dashboard.middleware), before anything is done."""
    try:
        request.body  # noqa: B018  # the read is the check
    except RawPostDataException:
        pass  # read as a form already (the CSRF check), which enforces the same limit


def staff_refusal(request: HttpRequest, *, action: str, target: str, message: str) -> HttpResponse | None:
    """None for staff; for anyone else a 403 with `message`, the refusal audited (kind `model`)."""
    user: Any = getattr(request, "user", None)
    if getattr(user, "is_staff", False):
        return None
    audit.audit_record(kind="model", actor=user, action=action, target=target, outcome="refused", detail="staff only")
    return api_error(403, message)


def unavailable(message: str) -> ApiError:
    return ApiError(503, message, headers={"Retry-After": "5"})


def not_allowed(router: Router, path: str, *, allowed: list[str], view: Callable[..., HttpResponseBase]) -> None:
    """Answer the other methods on `path` with 405 after the login check, as the API always has.

    Without this, ninja answers them before authentication, and an anonymous caller would learn
    which methods a route takes instead of getting a 401.
    """

    def refuse(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return HttpResponseNotAllowed(allowed)

    methods = [method for method in ["GET", *UNSAFE_METHODS] if method not in allowed]
    refuse.__signature__ = inspect.signature(view)  # type: ignore[attr-defined]  # the same path parameters
    refuse.__name__ = refuse.__qualname__ = f"{view.__name__}_not_allowed"
    router.add_api_operation(path, methods, refuse, include_in_schema=False)
