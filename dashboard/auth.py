"""Who is calling the API: a session user, or a bearer token."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from dashboard.services import api_token_authenticate


def api_error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Bearer token (no CSRF: not a browser credential) or session (CSRF enforced on unsafe methods).

    Exempt from LoginRequiredMiddleware: an API client gets a 401 JSON answer here, not a redirect
    to an HTML login page.
    """

    @login_not_required
    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, raw = header.partition(" ")
            user = api_token_authenticate(raw=raw.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                response = api_error(401, "Invalid or revoked API token.")
                response["WWW-Authenticate"] = 'Bearer realm="api"'
                return response
            request.user = user
            return view(request, *args, **kwargs)
        if not request.user.is_authenticated:
            response = api_error(401, "Authentication required: log in or send 'Authorization: Bearer <token>'.")
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        rejected = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})
        if rejected is not None:
            return api_error(403, "CSRF check failed: send the X-CSRFToken header with session requests.")
        return view(request, *args, **kwargs)

    return wrapped
