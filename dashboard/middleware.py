"""Middleware: a request id on every request, security headers on every response, health checks
before the Host check, and a 413 that names the limit for a body over DATA_UPLOAD_MAX_MEMORY_SIZE.

Security headers: a strict Content Security Policy and the browser hardening set.

Our pages load scripts and styles only from our own origin (`static/js/*.js`, `static/css/app.css`,
vendored libraries under `static/vendor/`), with no inline `<script>`, no `style=` attributes and
no `on*=` handlers, so the policy needs no `'unsafe-inline'`: an injected script or style never
runs even if escaping failed somewhere. htmx is configured (`htmx-config` meta) not to inject its
indicator styles and not to eval.

The third-party admin pages under `/admin/` (Django admin, django-rq's queue dashboard, staff
only) carry inline scripts and styles we do not control; they get the same policy plus
`'unsafe-inline'` for those two directives, and nothing else.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
_ADMIN = _BASE | {"script-src": "'self' 'unsafe-inline'", "style-src": "'self' 'unsafe-inline'"}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = _policy(_BASE)
ADMIN_CONTENT_SECURITY_POLICY = _policy(_ADMIN)

# Django's SecurityMiddleware already sends nosniff, Referrer-Policy and COOP, and
# XFrameOptionsMiddleware sends X-Frame-Options; these are the rest.
EXTRA_HEADERS = {
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = ADMIN_CONTENT_SECURITY_POLICY if request.path.startswith("/admin/") else CONTENT_SECURITY_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        for name, value in EXTRA_HEADERS.items():
            response.headers.setdefault(name, value)
        user = getattr(request, "user", None)  # absent on static files: WhiteNoise answers before auth runs
        if user is not None and user.is_authenticated:
            # Pages with results on them are per-user: never keep them in a shared cache.
            response.headers.setdefault("Cache-Control", "private, no-store")
        return response


REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's own id may be: visible ASCII (no spaces or control characters, so it cannot split
# or forge a log line), at most 128 characters. Anything else is ignored and an id is made here.
_REQUEST_ID = re.compile(r"[!-~]{1,128}")


def request_id_accept(value: str | None) -> str:
    """The caller's X-Request-ID if it is a valid one, else a new id."""
    return value if value and _REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Bind a request id (the caller's `X-Request-ID`, or a new one) and the user to every line logged
    while the request is answered, and return it in the response's `X-Request-ID`.

    Jobs enqueued meanwhile carry it into the worker (dashboard/queue.py). The context is cleared
    before and after each request: a web thread serves many requests, and its context outlives each.
    API token users are bound when their token is checked (dashboard/auth.py).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_accept(request.headers.get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_view(self, request: HttpRequest, view, args, kwargs) -> None:
        user = getattr(request, "user", None)  # the session's; the login check reads it right after
        if user is not None and user.is_authenticated:
            structlog.contextvars.bind_contextvars(user=user.get_username())


class HealthCheckMiddleware:
    """Answer `/healthz`, `/readyz` and `/metrics` before the Host header is checked.

    A load balancer's health check addresses the target by its IP (an ALB sends `Host: 10.0.1.23`),
    which is not in ALLOWED_HOSTS; through CommonMiddleware that is a 400 and the target reads as
    unhealthy. These two answers are the same whatever the host and carry no session, cookie or
    redirect, so they are served here, after the security headers and before anything that reads
    the host. `/metrics` is too: Prometheus also scrapes a target by its address, and the page
    decides who may read it itself (dashboard/metrics/exposition.py). Every other path keeps
    Django's host validation.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from dashboard.metrics import exposition
        from dashboard.views import health

        self.get_response = get_response
        self.views = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": exposition.metrics}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path_info)
        return view(request) if view is not None else self.get_response(request)


class RequestTooLargeMiddleware:
    """A request body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 that names the limit.

    Django raises RequestDataTooBig wherever the body is first read; left alone it becomes a bare
    400 page, also on the JSON API. Under /api/ the answer is the API's JSON error. API views read
    their own bodies, after their own size checks, so there it arrives through process_exception. A
    page's form post is read here instead, before CsrfViewMiddleware reads its token out of it: an
    exception raised in that middleware would never reach process_exception.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        if request.method != "POST" or _is_api(request):
            return None
        try:
            request.POST  # noqa: B018  (parsed now, as CsrfViewMiddleware would a moment later)
        except RequestDataTooBig:
            return _too_large(request)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return _too_large(request) if isinstance(exception, RequestDataTooBig) else None


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def _too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if _is_api(request):
        from dashboard.auth import api_error

        return api_error(413, f"The body is larger than the limit of {limit:,} bytes.", limit_bytes=limit)
    message = f"The request is larger than the limit of {limit:,} bytes."
    context = {"message": message, "batch_bytes": settings.BATCH_MAX_BYTES, "back": request.path}
    return render(request, "dashboard/request_too_large.html", context, status=413)


_RQ_ADMIN = ("/admin/django-rq/", "/admin/django_rq/")
_RQ_JOB_ID = re.compile(r"[A-Za-z0-9_-]+")  # what RQ accepts as a job id
# The admin's record pages for django-rq's stand-in model, which has no table behind it.
_RQ_MODEL_PAGES = {f"django_rq_dashboard_{page}" for page in ("add", "change", "delete", "history")}


class AdminLookupNotFoundMiddleware:
    """django-rq's staff pages raise for what is not there; that is a 404, not a 500.

    Its views index the queue list and fetch the job or worker before any check (`IndexError`, RQ's
    `ValueError` for an id or key it would never make, `NoSuchJobError`, `assert worker`), its token
    checks raise on non-ASCII tokens (`compare_digest`), and its scheduler pages need
    rq-scheduler, which this site does not install (`ImproperlyConfigured`); its admin entry is a model
    without a table, whose record pages fail on the query. A stale link or an edited URL would
    otherwise be a server error.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        from django_rq.settings import get_queues_list

        if not request.path.startswith(_RQ_ADMIN):
            return None
        # Its token checks use compare_digest, which raises on non-ASCII text: such a token is just wrong.
        tokens = (str(view_kwargs.get("token") or ""), request.headers.get("Authorization", ""))
        if not all(token.isascii() for token in tokens):
            return JsonResponse({"error": True, "description": "Invalid token."}, status=401)
        if request.resolver_match and request.resolver_match.url_name in _RQ_MODEL_PAGES:
            raise Http404("The queue dashboard has no records to edit.")
        job_id = view_kwargs.get("job_id")
        if job_id is not None and not _RQ_JOB_ID.fullmatch(str(job_id)):
            raise Http404("No such job.")
        for name in ("queue_index", "scheduler_index"):  # both index the configured queues
            index = view_kwargs.get(name)
            if index is not None and not 0 <= int(index) < len(get_queues_list()):
                raise Http404("No such queue.")
        worker_key = view_kwargs.get("key")  # a worker's page asserts that the worker exists
        if worker_key is not None and not self._worker_exists(str(worker_key), view_kwargs.get("queue_index", 0)):
            raise Http404("No such worker.")
        return None

    @staticmethod
    def _worker_exists(key: str, queue_index: int) -> bool:
        from django_rq.queues import get_queue_by_index
        from rq.worker import Worker

        if not key.startswith(Worker.redis_worker_namespace_prefix):
            return False
        return bool(get_queue_by_index(queue_index).connection.exists(key))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.core.exceptions import ImproperlyConfigured
        from rq.exceptions import NoSuchJobError

        if request.path.startswith(_RQ_ADMIN) and isinstance(exception, NoSuchJobError | ImproperlyConfigured):
            raise Http404("No such job or scheduler.") from exception
        return None
