"""Counting submissions and batches where they are answered: accepted, or refused with the reason.

`@submission_counted(kind="submission")` (or `kind="batch"`) goes on the form and API views that take
work, below their login and rate-limit decorators, so only a logged-in POST is counted and a refusal is
seen either as the answer's status or as the exception the view raises for the API to answer. That is
one counter increment and one histogram observation per request: the submit path stays cheap.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.core.exceptions import RequestDataTooBig

from dashboard.auth import ApiError
from dashboard.exceptions import RateLimited
from dashboard.metrics import (
    BATCHES_ACCEPTED,
    BATCHES_REFUSED,
    SUBMISSIONS_ACCEPTED,
    SUBMISSIONS_REFUSED,
    SUBMIT_SECONDS,
)

View = TypeVar("View", bound=Callable[..., Any])

# A refusal's reason is read from its status: each of these is answered for one cause only, but for
# 503, which is DynamoDB or Redis (the log and the answer's message say which).
REASONS = {
    400: "invalid",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}
KINDS = {"submission": (SUBMISSIONS_ACCEPTED, SUBMISSIONS_REFUSED), "batch": (BATCHES_ACCEPTED, BATCHES_REFUSED)}


def refusal_reason(status: int) -> str:
    return REASONS.get(status, "error")


def _reason_of(error: BaseException) -> str:
    if isinstance(error, ApiError):
        return refusal_reason(error.status)
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, RequestDataTooBig):
        return "too_large"
    return "error"


def submission_counted(*, kind: str) -> Callable[[View], View]:
    """Count the view's POSTs as accepted (a 2xx or 3xx answer) or refused by reason, and time them."""
    accepted, refused = KINDS[kind]
    latency = SUBMIT_SECONDS.labels(kind=kind)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def counted(request: Any, *args: Any, **kwargs: Any) -> Any:
            if request.method != "POST":
                return view(request, *args, **kwargs)
            started = time.perf_counter()
            try:
                response = view(request, *args, **kwargs)
            except BaseException as error:
                refused.labels(reason=_reason_of(error)).inc()
                latency.observe(time.perf_counter() - started)
                raise
            latency.observe(time.perf_counter() - started)
            if response.status_code < 400:
                accepted.inc()
            else:
                refused.labels(reason=refusal_reason(response.status_code)).inc()
            return response

        return cast(View, counted)  # functools.wraps keeps the signature, which ninja reads

    return decorate
