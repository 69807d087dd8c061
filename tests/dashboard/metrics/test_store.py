"""The scrape-time gauges, read from the real Redis, DynamoDB Local and the fleet, at an injected time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rq import Worker

from classifier.contracts import timestamp_of
from dashboard import power
from dashboard.aws import dynamodb
from dashboard.metrics.store import StoreCollector
from dashboard.queue import classify_enqueue
from tests.dashboard.metrics.support import parse, value

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 5, 5, 12, 0, tzinfo=UTC)


def _scrape(now: float) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(clock=lambda: now))
    return parse(generate_latest(registry).decode())


def test_the_queue_depth_its_oldest_job_and_its_workers(results_table, queue, redis_conn):
    classify_enqueue(item_ids=["a"])
    classify_enqueue(item_ids=["b", "c"])
    enqueued = queue.fetch_job(queue.get_job_ids()[0]).enqueued_at.replace(tzinfo=UTC).timestamp()
    worker = Worker(["inference"], connection=redis_conn, name="metrics-worker")
    worker.register_birth()

    samples = _scrape(enqueued + 90)

    worker.register_death()
    assert value(samples, "console_queue_depth", queue="inference") == 2
    assert value(samples, "console_queue_oldest_age_seconds", queue="inference") == pytest.approx(90, abs=0.01)
    assert value(samples, "console_workers", queue="inference") == 1


def test_an_empty_queue_has_no_age(results_table, redis_conn):
    samples = _scrape(NOON.timestamp())

    assert value(samples, "console_queue_depth", queue="inference") == 0
    assert value(samples, "console_queue_oldest_age_seconds", queue="inference") == 0


def test_items_by_status_and_the_oldest_queued_ones_wait(results_table, redis_conn):
    for n, minutes in enumerate((5, 2)):
        created = timestamp_of(NOON - timedelta(minutes=minutes))
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"queued-{n}", text="x", created_at=created))
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="taken", text="x"))
    dynamodb.item_claim(item_id="taken", claimed_by="test")

    samples = _scrape(NOON.timestamp())

    counts = {status: value(samples, "console_items", status=status) for status in dynamodb.STATUSES}
    assert counts == {"queued": 2, "running": 1, "done": 0, "failed": 0, "cancelled": 0}
    assert value(samples, "console_items_oldest_queued_age_seconds") == pytest.approx(300, abs=0.01)


def test_instances_by_state_and_todays_gpu_seconds(results_table, redis_conn, settings):
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_INSTANCE_COUNT = 2
    redis_conn.hset(power.ON_SINCE_KEY, "local-0", NOON.timestamp() - 1800)
    redis_conn.hset(power.USAGE_PREFIX + "2026-05-05", "local-1", 600)
    power.tick_heartbeat()

    samples = _scrape(NOON.timestamp())

    assert value(samples, "console_instances", state="stopped") == 2
    assert value(samples, "console_instances", state="running") == 0
    assert value(samples, "console_gpu_seconds_today") == pytest.approx(2400)
    assert value(samples, "console_power_tick_up") == 1


def test_endpoints_by_state_are_zero_when_none_is_managed(results_table, redis_conn, settings):
    settings.SAGEMAKER_ENDPOINTS = []

    samples = _scrape(NOON.timestamp())

    assert value(samples, "console_endpoints", state="InService") == 0
    assert value(samples, "console_metrics_source_up", source="endpoints") == 1


def test_the_price_is_always_there_and_the_budget_only_when_set(results_table, redis_conn, settings):
    settings.GPU_HOURLY_PRICE = 1.5
    settings.GPU_DAILY_BUDGET = 0

    without = _scrape(NOON.timestamp())
    settings.GPU_DAILY_BUDGET = 40.0
    with_budget = _scrape(NOON.timestamp())

    assert value(without, "console_gpu_hourly_price_dollars") == 1.5
    assert value(without, "console_gpu_daily_budget_dollars") is None
    assert value(with_budget, "console_gpu_daily_budget_dollars") == 40.0


def test_the_item_counts_are_read_once_a_minute_not_at_every_scrape(results_table, redis_conn):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="first", text="x"))
    first = _scrape(NOON.timestamp())
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="second", text="x"))

    second = _scrape(NOON.timestamp())
    redis_conn.flushdb()  # the shared cache is Redis: emptied, the next scrape reads DynamoDB again
    third = _scrape(NOON.timestamp())

    assert [value(s, "console_items", status="queued") for s in (first, second, third)] == [1, 1, 2]
