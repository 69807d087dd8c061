"""The fleet panel's data: everything the status panel shows, read from each source on its own.

Reads only, but for one piece of accounting: what the panel sees powered counts towards today's
GPU hours (`usage_observe`), so the figure is current between two power checks.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from classifier.contracts import timestamp_parse
from dashboard import compute
from dashboard.compute.base import PENDING, POWERED_STATES, STOPPING, ComputeBackend, Instance
from dashboard.compute.policy import Memory
from dashboard.endpoints.status import endpoint_usage_totals
from dashboard.exceptions import ComputeError, StoreUnavailable
from dashboard.power.fleet import endpoints_status, oldest_queued_created_at, queue_counts, workers_status
from dashboard.power.holds import FLEET, holds_all
from dashboard.power.state import MEMORY_KEY, json_get, last_check, power_error, tick_alive
from dashboard.power.usage import gpu_seconds_today, usage_observe


def _silent_instances(*, now: float) -> list[dict[str, Any]]:
    """Instances the policy stopped because no worker reported from them, while they rest."""
    try:
        memory = Memory.from_json(json_get(MEMORY_KEY))
    except Exception:  # Redis down: the panel says so already
        return []
    timeout = float(settings.POWER_BOOT_TIMEOUT)
    return [
        {"instance_id": instance_id, "at": at, "timeout_s": timeout, "retry_in_s": max(0.0, at + timeout - now)}
        for instance_id, at in sorted(memory.silent_since.items())
        if now - at < timeout
    ]


def _instances(status: dict[str, Any], backend: ComputeBackend, *, now: float) -> list[Instance]:
    try:
        instances = backend.instances()
        status["instances_error"] = None
        usage_observe(instances, now=now)
    except ComputeError as error:
        instances = []
        status["instances_error"] = str(error)
    return instances


def _usage(*, now: float) -> dict[str, float]:
    try:
        seconds = gpu_seconds_today(now=now)
    except Exception:
        seconds = 0.0
    hours = seconds / 3600
    return {"gpu_hours": hours, "cost": hours * settings.GPU_HOURLY_PRICE, "hourly_price": settings.GPU_HOURLY_PRICE}


def _oldest_queued_age(status: dict[str, Any], *, now: float) -> float | None:
    oldest = None
    try:
        oldest = oldest_queued_created_at()
        status["store_error"] = None
    except StoreUnavailable as error:
        status["store_error"] = str(error)
    moment = timestamp_parse(oldest)
    return now - moment.timestamp() if moment else None


def power_status(*, now: float | None = None) -> dict[str, Any]:
    """Everything the status panel shows. Each source fails on its own: one error never blanks the panel."""
    now = time.time() if now is None else now
    backend = compute.backend()
    status: dict[str, Any] = {"backend": backend.name, "supports_reboot": backend.supports_reboot}
    instances = _instances(status, backend, now=now)
    try:
        workers = workers_status()
        counts = queue_counts()
        status["queue_error"] = None
    except Exception as error:  # Redis down: say so on the panel instead of a 500
        workers, counts = [], {"queued": 0, "running": 0, "failed": 0}
        status["queue_error"] = f"The job queue (Redis) cannot be read: {error}"
    try:
        holds = holds_all()
    except Exception:  # Redis down: the queue error above says so
        holds = {}
    status["fleet_hold"] = holds.get(FLEET)
    rows = []
    for instance in instances:
        launched = instance.launch_time.timestamp() if instance.launch_time else None
        rows.append(
            {
                "instance": instance,
                "uptime_s": now - launched if launched and instance.state in POWERED_STATES else None,
                "workers": [w for w in workers if w["instance_id"] == instance.id],
                "hold": holds.get(instance.id),
            }
        )
    known = {i.id for i in instances}
    status["instances"] = rows
    status["other_workers"] = [w for w in workers if w["instance_id"] not in known]
    status["queue"] = {**counts, "oldest_queued_age_s": _oldest_queued_age(status, now=now)}
    status["endpoints"], status["endpoints_error"] = endpoints_status(now=now)
    status["usage"] = _usage(now=now) | endpoint_usage_totals(status["endpoints"])
    provider_error = power_error()
    if provider_error:
        provider_error["retry_in_s"] = max(0.0, float(provider_error["retry_at"]) - now)
    status["power_error"] = provider_error
    last = last_check()
    status["waiting"] = list(last.get("waiting", [])) if last else []
    status["silent"] = _silent_instances(now=now)
    status["last_decision"] = last
    status["tick_alive"] = tick_alive()
    status["transitioning"] = any(i.state in {PENDING, STOPPING} for i in instances) or bool(status["waiting"])
    return status
