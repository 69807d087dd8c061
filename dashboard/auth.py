"""Who is calling: on the API a bearer token or a session user (with its CSRF token on unsafe methods).

`AuthenticatedHttpRequest` is the request type of views that run only for a logged-in user.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security import APIKeyCookie, HttpBearer

from dashboard.services import api_token_authenticate

AUTHENTICATION_REQUIRED = "Authentication required: log in or send 'Authorization: Bearer <token>'."
INVALID_TOKEN = "Invalid, expired or revoked API token."
CSRF_FAILED = "CSRF check failed: send the X-CSRFToken header with session requests."


class AuthenticatedHttpRequest(HttpRequest):
    """A request behind `login_required` or the API's auth: its user is a `User`, never anonymous.

    For type checking only (Django makes the requests): django-stubs types `HttpRequest.user` as
    `User | AnonymousUser`, and the services that record who did something take a `User`.
    """

    user: User


def api_error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


class ApiError(Exception):
    """An answer in the API's error shape, raised from anywhere an operation runs (auth included)."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra

    def response(self) -> HttpResponse:
        response = api_error(self.status, self.message, **self.extra)
        for name, value in self.headers.items():
            response[name] = value
        return response


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="api"'})


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`, looked up by its hash. No CSRF: it is not a browser credential.

    A request that sends an Authorization header is judged by it alone: a bad token is a 401, never a
    fall-back to the session cookie that came with it.
    """

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if header and header.partition(" ")[0].lower() != "bearer":
            raise unauthorized(INVALID_TOKEN)
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(raw=token.strip())
        if user is None:
            raise unauthorized(INVALID_TOKEN)
        request.user = user
        structlog.contextvars.bind_contextvars(user=user.get_username())  # on this request's log lines
        return user


def _csrf_view(request: HttpRequest) -> HttpResponse:
    # Never called: CsrfViewMiddleware wants a view to wrap and to look for @csrf_exempt on, and no
    # API operation is exempt.
    return HttpResponse()


class SessionAuth(APIKeyCookie):
    """A logged-in session; unsafe methods need the CSRF token, checked as Django's middleware does."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, after the login, with our message

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not request.user.is_authenticated:
            return None
        if CsrfViewMiddleware(_csrf_view).process_view(request, _csrf_view, (), {}) is not None:
            raise ApiError(403, CSRF_FAILED)
        return request.user
