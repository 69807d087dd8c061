"""Endpoint power control: the idle check run by `power_tick`, and staff pause and resume. Each change is audited.

The decisions are the pure `dashboard.endpoints.policy`'s; this module observes (describe, last
invocations, pauses), asks it, and acts. Starts happen on demand (`dashboard.endpoints.demand`) or by a
staff resume, never here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from dashboard import audit
from dashboard.endpoints import records
from dashboard.endpoints.base import IN_SERVICE, Endpoint, EndpointBackend
from dashboard.endpoints.policy import Decision, EndpointView, Memory, PolicyConfig, Snapshot, decide
from dashboard.endpoints.usage import endpoint_usage_observe
from dashboard.exceptions import DeployError, EndpointStatusUnavailable

log = logging.getLogger(__name__)

TICK = "system (power_tick)"


def _backend(backend: EndpointBackend | None) -> EndpointBackend:
    if backend is not None:
        return backend
    from dashboard import endpoints

    return endpoints.backend()


def idle_after(name: str) -> float:
    """Seconds without an invocation before `name` goes to zero (0: never)."""
    return float(settings.SAGEMAKER_ENDPOINT_IDLE.get(name, settings.SAGEMAKER_IDLE_SCALE_AFTER))


def policy_config() -> PolicyConfig:
    return PolicyConfig(min_in_service=float(settings.SAGEMAKER_MIN_IN_SERVICE))


def endpoint_views(endpoints: list[Endpoint]) -> tuple[EndpointView, ...]:
    last = records.last_invocations()
    started = records.started_at()
    paused = records.pauses()
    return tuple(
        EndpointView(
            name=e.name,
            state=e.state,
            idle_after=idle_after(e.name),
            last_invocation=last.get(e.name),
            started_at=started.get(e.name),
            paused=e.name in paused,
        )
        for e in endpoints
    )


def managed_endpoints(backend: EndpointBackend) -> list[Endpoint]:
    """The backend's managed endpoints, each described on its own: one that cannot be read is skipped."""
    found = []
    for name in backend.endpoint_names():
        try:
            found.append(backend.endpoint_describe(name))
        except EndpointStatusUnavailable as error:
            log.warning("endpoint %s cannot be described: %s", name, error)
    return found


def _audit(*, actor: Any = None, actor_name: str, action: str, target: str, outcome: str, detail: str = "") -> None:
    audit.audit_record(
        kind="power", actor=actor, actor_name=actor_name, action=action, target=target, outcome=outcome, detail=detail
    )


def _to_zero(backend: EndpointBackend, name: str) -> Endpoint:
    endpoint = backend.scale_to_zero(name)
    # A later request must be able to start it again at once, not wait out an old start's lock.
    records.start_release(name)
    records.ready_clear(name)
    from dashboard.power.fleet import endpoints_status_forget  # the power package imports this module

    endpoints_status_forget()  # the Fleet panel's cached describes would show it up for a few seconds more
    return endpoint


def endpoints_tick(*, now: float | None = None, backend: EndpointBackend | None = None) -> Decision | None:
    """Scale idle (and paused) endpoints to zero. Never raises: the instances' check must go on regardless."""
    now = time.time() if now is None else now
    try:
        backend = _backend(backend)
        endpoints = managed_endpoints(backend)
        endpoint_usage_observe(endpoints, now=now)
        for endpoint in endpoints:
            if endpoint.state == IN_SERVICE:
                records.start_observed(endpoint.name, now=now)
        memory = Memory.from_json(records.memory_get())
        decision, memory = decide(Snapshot(now=now, endpoints=endpoint_views(endpoints)), policy_config(), memory)
        records.memory_set(memory.to_json())
    except Exception:
        log.exception("endpoint power check failed")
        return None
    for name in decision.scale_to_zero:
        reason = decision.reasons.get(name, "")
        try:
            endpoint = _to_zero(backend, name)
        except DeployError as error:
            log.warning("scaling %s to zero failed: %s", name, error)
            _audit(actor_name=TICK, action="scale to zero", target=name, outcome="error", detail=str(error))
            continue
        _audit(
            actor_name=TICK,
            action="scale to zero",
            target=name,
            outcome="ok",
            detail=f"{reason}; now {endpoint.state}",
        )
    return decision


def endpoint_pause(*, name: str, actor: Any, backend: EndpointBackend | None = None, now: float | None = None) -> str:
    """Staff pause: scale to zero and keep it there until resumed. Raises DeployError if the scale-down fails
    (the pause stays recorded, so the next power check tries again)."""
    backend = _backend(backend)
    who = actor.get_username() if actor is not None else "system"
    records.pause_set(name, by=who, now=time.time() if now is None else now)
    try:
        endpoint = _to_zero(backend, name)
    except DeployError as error:
        _audit(actor=actor, actor_name=who, action="pause", target=name, outcome="error", detail=str(error))
        raise
    _audit(actor=actor, actor_name=who, action="pause", target=name, outcome="ok", detail=f"now {endpoint.state}")
    return endpoint.state


def endpoint_resume(*, name: str, actor: Any, backend: EndpointBackend | None = None, now: float | None = None) -> str:
    """Staff resume: lift the pause and start it now (it goes to zero again after its idle time)."""
    backend = _backend(backend)
    who = actor.get_username() if actor is not None else "system"
    now = time.time() if now is None else now
    records.pause_clear(name)
    try:
        endpoint = backend.scale_up(name)
    except DeployError as error:
        _audit(actor=actor, actor_name=who, action="resume", target=name, outcome="error", detail=str(error))
        raise
    records.start_record(name, now=now)
    records.invocation_record(name, now=now)
    _audit(actor=actor, actor_name=who, action="resume", target=name, outcome="ok", detail=f"now {endpoint.state}")
    return endpoint.state
