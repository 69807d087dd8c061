"""Invoking an endpoint again while it fails in a way that passes: for background jobs, which can wait
out throttling, a timeout or an endpoint that is still starting. A web request tries once instead."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from dashboard.endpoints.base import EndpointBackend, Invocation
from dashboard.exceptions import EndpointError, EndpointModelError

log = logging.getLogger(__name__)

# Backoff between retries: "full jitter" (a random wait up to base × 2^attempt, capped), so jobs that
# were throttled together do not all come back at the same moment.
RETRY_BASE_SECONDS = 0.5
RETRY_MAX_WAIT_SECONDS = 20.0


def endpoint_invoke_retrying(
    *,
    backend: EndpointBackend,
    name: str,
    body: bytes,
    deadline: float,
    content_type: str = "application/json",
    accept: str = "application/json",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> Invocation:
    """`backend.invoke`, retried while it fails with a retryable EndpointError and a wait still ends
    before `deadline` (on `clock`'s scale). A permanent failure is raised at once; a retryable one that
    outlasts the deadline is raised with how long it was tried."""
    started = clock()
    attempt = 0
    while True:
        try:
            return backend.invoke(name, body=body, content_type=content_type, accept=accept)
        except EndpointError as error:
            if not error.retryable:
                raise
            attempt += 1
            wait = jitter() * min(RETRY_MAX_WAIT_SECONDS, RETRY_BASE_SECONDS * 2**attempt)
            if clock() + wait > deadline:
                raise _gave_up(error, attempts=attempt, seconds=clock() - started) from error
            log.warning("endpoint %s: %s; retry %d in %.1f s", name, error, attempt, wait)
            sleep(wait)


def _gave_up(error: EndpointError, *, attempts: int, seconds: float) -> EndpointError:
    message = f"{error} (still failing after {attempts} attempt(s) over {seconds:.0f} s)"
    if isinstance(error, EndpointModelError):
        return EndpointModelError(message, retryable=True)
    return type(error)(message)
