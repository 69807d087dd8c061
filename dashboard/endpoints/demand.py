"""On demand: a request that needs a scaled-to-zero endpoint brings it back, once for many requests.

`endpoint_ready` is called before each invocation (a generation, a classification job's call). It is
cheap when the endpoint is up (a Redis HSET for the idle timer and one EXISTS for a "ready a moment
ago" flag). Otherwise it describes the endpoint, and:
- InService: returns;
- ScaledToZero: the first caller takes the start lock (Redis SET NX) and scales it up; every caller,
  that one included, gets `EndpointStarting` with the seconds the start typically takes;
- Creating, Updating, Deleting: `EndpointStarting` with the time left of a typical start;
- paused by staff: `EndpointPaused`, saying by whom; nothing here starts it;
- Failed: `EndpointNotReady` with SageMaker's reason.

A web request answers 503 with Retry-After at once; a job waits with `endpoint_wait_ready`. Endpoints the
backend does not manage (not in its `endpoint_names`) are left alone: the invocation reports for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis.exceptions import RedisError

from dashboard import audit
from dashboard.endpoints import records
from dashboard.endpoints.base import (
    CREATING,
    DELETING,
    FAILED,
    IN_SERVICE,
    SCALED_TO_ZERO,
    UPDATING,
    Endpoint,
    EndpointBackend,
)
from dashboard.exceptions import (
    DeployError,
    EndpointNotReady,
    EndpointPaused,
    EndpointStarting,
    EndpointStatusUnavailable,
    EndpointUnavailable,
)

log = logging.getLogger(__name__)

# The shortest Retry-After we send: a client polling faster only costs describes.
MIN_RETRY_SECONDS = 5
ON_DEMAND = "system (on demand)"


def _backend(backend: EndpointBackend | None) -> EndpointBackend:
    if backend is not None:
        return backend
    from dashboard import endpoints

    return endpoints.backend()


def paused_error(name: str, pause: dict) -> EndpointPaused:
    by = pause.get("by") or "a staff member"
    when = datetime.fromtimestamp(float(pause.get("at") or 0), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return EndpointPaused(
        f"Endpoint {name!r} is paused (by {by}, {when}) and stays off until a staff member resumes it "
        "on the Fleet page.",
        paused_by=by,
        paused_at=pause.get("at"),
    )


def endpoint_ready(*, name: str, backend: EndpointBackend | None = None, now: float | None = None) -> None:
    """Return if `name` can be invoked now; otherwise start it if needed and raise why it cannot yet."""
    backend = _backend(backend)
    if name not in backend.endpoint_names():
        return
    now = time.time() if now is None else now
    try:
        _ready_coordinated(name, backend=backend, now=now)
    except RedisError as error:
        # Pauses, start locks and timers live in Redis. Without it, go by the endpoint's own state and
        # start nothing: a start without the lock could be repeated by every web process.
        log.warning("endpoint %s: Redis away (%s); checking its state directly", name, error)
        if _described(backend, name).state != IN_SERVICE:
            raise EndpointUnavailable(
                f"Endpoint {name!r} is not in service and cannot be started while the console's Redis is "
                "unreachable. Try again shortly."
            ) from error


def _described(backend: EndpointBackend, name: str) -> Endpoint:
    try:
        return backend.endpoint_describe(name)
    except (EndpointStatusUnavailable, RedisError) as error:  # the local backend keeps its state in Redis
        raise EndpointUnavailable(f"The state of endpoint {name!r} cannot be read: {error}") from error


def _ready_coordinated(name: str, *, backend: EndpointBackend, now: float) -> None:
    records.invocation_record(name, now=now)
    pause = records.pause_of(name)
    if pause is not None:
        raise paused_error(name, pause)
    if records.ready(name):
        return
    endpoint = _described(backend, name)
    estimate = records.start_estimate(name, kind=endpoint.kind, backend=backend.name)
    if endpoint.state == IN_SERVICE:
        records.start_observed(name, now=now)
        records.ready_set(name)
        return
    if endpoint.state == FAILED:
        raise EndpointNotReady(f"Endpoint {name!r} has failed: {endpoint.failure_reason or 'no reason given'}")
    if endpoint.state == SCALED_TO_ZERO:
        _start(backend, name, now=now, estimate=estimate)
        raise EndpointStarting(_starting_message(name, estimate), retry_after=max(MIN_RETRY_SECONDS, estimate))
    claimed = records.start_claimed_at(name)
    left = estimate - (now - claimed) if claimed is not None else estimate
    if endpoint.state == DELETING:
        left = estimate + MIN_RETRY_SECONDS  # it must finish going down before it can come back
    assert endpoint.state in {CREATING, UPDATING, DELETING}, endpoint.state
    retry = max(MIN_RETRY_SECONDS, round(left))
    raise EndpointStarting(_starting_message(name, retry), retry_after=retry)


def _starting_message(name: str, seconds: int) -> str:
    return f"Starting the endpoint {name!r}, about {seconds} s. Try again then; nothing was sent to it yet."


def _start(backend: EndpointBackend, name: str, *, now: float, estimate: int) -> None:
    """Scale `name` up unless another caller already is (single flight through the start lock)."""
    if not records.start_claim(name, now=now, seconds=3 * estimate):
        return
    try:
        endpoint = backend.scale_up(name)
    except DeployError as error:
        records.start_release(name)  # so the next request tries again
        audit.audit_record(
            kind="power", actor_name=ON_DEMAND, action="start", target=name, outcome="error", detail=str(error)
        )
        raise EndpointUnavailable(f"Endpoint {name!r} could not be started: {error}") from error
    records.start_record(name, now=now)
    _panel_forget()
    log.info("endpoint %s started on demand; now %s", name, endpoint.state)
    audit.audit_record(
        kind="power",
        actor_name=ON_DEMAND,
        action="start",
        target=name,
        outcome="ok",
        detail=f"a request needed it; now {endpoint.state}",
    )


def _panel_forget() -> None:
    """The Fleet panel caches describes for a few seconds: drop them, so it shows the start at once."""
    from dashboard.power.fleet import endpoints_status_forget  # the power package imports this one

    endpoints_status_forget()


def endpoint_wait_ready(
    *,
    name: str,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    backend: EndpointBackend | None = None,
) -> None:
    """`endpoint_ready`, waiting while the endpoint starts, until `deadline` (on `clock`'s scale).

    For jobs: their items stay queued (claimed, `running`) while the endpoint comes back. A pause, a
    failure or a start outlasting the deadline is raised.
    """
    while True:
        try:
            endpoint_ready(name=name, backend=backend)
            return
        except EndpointStarting as error:
            wait = min(float(error.retry_after), 15.0)
            if clock() + wait > deadline:
                raise
            log.info("endpoint %s: %s; waiting %.0f s", name, error, wait)
            sleep(wait)
