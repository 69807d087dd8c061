"""Endpoint-hours per UTC day: split at midnight and at the month's end, with instance-seconds for the cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dashboard.endpoints.base import IN_SERVICE, SCALED_TO_ZERO, Endpoint
from dashboard.endpoints.usage import endpoint_cost, endpoint_seconds, endpoint_usage_observe

UP = Endpoint(name="gpt2-demo", state=IN_SERVICE, instance_type="ml.g5.xlarge", instance_count=2)
DOWN = replace(UP, state=SCALED_TO_ZERO, instance_count=0)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("on", "off", "before", "after"),
    [
        ("2026-03-10 23:30:00", "2026-03-11 00:45:00", 1800, 2700),  # midnight
        ("2026-01-31 23:00:00", "2026-02-01 01:00:00", 3600, 3600),  # the month's end
        ("2025-12-31 23:59:00", "2026-01-01 00:01:00", 60, 60),  # the year's end
    ],
)
def test_a_stretch_over_midnight_is_split_between_the_days(redis_conn, time_machine, on, off, before, after):
    time_machine.move_to(on + "Z", tick=False)
    endpoint_usage_observe([UP], now=ts(on))
    time_machine.move_to(off + "Z", tick=False)
    endpoint_usage_observe([DOWN], now=ts(off))

    assert endpoint_seconds(day_of=ts(on)) == {"gpt2-demo": (before, before * 2)}
    assert endpoint_seconds(day_of=ts(off)) == {"gpt2-demo": (after, after * 2)}


def test_an_endpoint_still_up_counts_from_midnight_today(redis_conn):
    endpoint_usage_observe([UP], now=ts("2026-03-10 22:00:00"))
    assert endpoint_seconds(day_of=ts("2026-03-11 01:00:00")) == {"gpt2-demo": (3600, 7200)}


def test_seeing_it_up_again_does_not_count_twice(redis_conn):
    for hour in (10, 11, 12):
        endpoint_usage_observe([UP], now=ts(f"2026-03-10 {hour}:00:00"))
    endpoint_usage_observe([DOWN], now=ts("2026-03-10 13:00:00"))
    endpoint_usage_observe([DOWN], now=ts("2026-03-10 14:00:00"))
    assert endpoint_seconds(day_of=ts("2026-03-10 15:00:00")) == {"gpt2-demo": (3 * 3600, 6 * 3600)}


def test_the_cost_is_instance_hours_at_the_types_price_or_none_without_one():
    assert endpoint_cost(7200, instance_type="ml.g5.xlarge", prices={"ml.g5.xlarge": 1.5}) == 3.0
    assert endpoint_cost(7200, instance_type="ml.p5.48xlarge", prices={"ml.g5.xlarge": 1.5}) is None
