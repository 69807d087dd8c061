"""The Fleet panel's endpoint rows: state, last invocation, idle time left, pause, hours and cost today.

Reads only (Redis records and usage); the describes come from the caller (`dashboard.power.fleet`, which
caches them for a few seconds because the panel polls).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings

from dashboard.endpoints import records
from dashboard.endpoints.base import IN_SERVICE, SCALED_TO_ZERO, Endpoint
from dashboard.endpoints.control import endpoint_views, policy_config
from dashboard.endpoints.policy import Memory, seconds_left
from dashboard.endpoints.usage import endpoint_cost, endpoint_seconds


def endpoint_rows(endpoints: list[Endpoint], *, managed: list[str], now: float) -> list[dict[str, Any]]:
    views = {view.name: view for view in endpoint_views(endpoints)}
    memory = Memory.from_json(records.memory_get())
    config = policy_config()
    pauses = records.pauses()
    usage = endpoint_seconds(day_of=now)
    prices = settings.SAGEMAKER_HOURLY_PRICES
    rows = []
    for endpoint in endpoints:
        view = views[endpoint.name]
        seconds, instance_seconds = usage.get(endpoint.name, (0.0, 0.0))
        left = None
        if endpoint.state == IN_SERVICE and not view.paused and view.idle_after > 0:
            left = max(0.0, seconds_left(view, memory, config, now=now))
        is_managed = endpoint.name in managed
        paused = pauses.get(endpoint.name)
        actions = []
        if is_managed:
            actions.append(("resume", "Resume") if paused else ("pause", "Pause"))
        rows.append(
            {
                **asdict(endpoint),
                "status": endpoint.state,
                "managed": is_managed,
                "paused": paused,
                "last_invocation": view.last_invocation,
                "last_invocation_age_s": now - view.last_invocation if view.last_invocation else None,
                "idle_left_s": left,
                "idle_after_s": view.idle_after,
                "hours_today": seconds / 3600,
                "cost_today": endpoint_cost(instance_seconds, instance_type=endpoint.instance_type, prices=prices),
                "hourly_price": prices.get(endpoint.instance_type),
                "scaled_to_zero": endpoint.state == SCALED_TO_ZERO,
                "actions": actions,
            }
        )
    return rows


def endpoint_usage_totals(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Endpoint-hours and their cost today over all rows (a row without a price adds no cost)."""
    return {
        "endpoint_hours": sum(row["hours_today"] for row in rows),
        "endpoint_cost": sum(row["cost_today"] or 0.0 for row in rows),
    }
