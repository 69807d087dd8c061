"""Gauges read when Prometheus scrapes: the queues, the items by status, the fleet, today's GPU time.

They are the same reads the fleet panel makes (`dashboard.power.fleet`, `usage`), not counters kept in
process memory, so every web process answers the same and a restart loses nothing. Each source is read
on its own: one that fails is left out of that scrape (logged, and `console_metrics_source_up` says
which), never a 500. Reads that cost more than a Redis call are kept a little while in Django's cache,
which is Redis and so shared by every web process: N scrapers of M processes cost one read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

T = TypeVar("T")

# Counting the finished statuses reads their whole partition of the status index: once a minute.
ITEMS_CACHE_SECONDS = 60
# EC2's DescribeInstances per scrape would be rate-limited across many scrapers.
INSTANCES_CACHE_SECONDS = 15
CACHE_PREFIX = "metrics:"


def _cached(key: str, seconds: int, read: Callable[[], T]) -> T:
    """`read()`, or what a process read in the last `seconds`. A cache that does not answer is skipped."""
    cache_up = True
    try:
        found = cache.get(CACHE_PREFIX + key)
    except Exception as error:
        log.warning("metrics cache unreadable (%s); reading %s directly", error, key)
        found, cache_up = None, False
    if found is not None:
        return cast(T, found)  # what `read()` returned when it was stored
    value = read()
    if cache_up:
        try:
            cache.set(CACHE_PREFIX + key, value, seconds)
        except Exception as error:
            log.warning("metrics cache not written for %s: %s", key, error)
    return value


def _age(moment: datetime | None, now: float) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # RQ keeps UTC without a zone
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, now - moment.timestamp())


def queues_read(*, now: float) -> list[dict[str, Any]]:
    """Each RQ queue's depth, its oldest job's age and the workers listening to it."""
    import django_rq
    from rq import Worker
    from rq.job import Job

    from dashboard.queue import redis_connection

    connection = redis_connection()
    found = []
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name, connection=connection)
        head = queue.get_job_ids(0, 1)
        job = Job.fetch(head[0], connection=connection, serializer=queue.serializer) if head else None
        found.append(
            {
                "queue": name,
                "depth": queue.count,
                "oldest_age": _age(job.enqueued_at if job else None, now),
                "workers": Worker.count(connection=connection, queue=queue),
            }
        )
    return found


def items_read(*, now: float) -> dict[str, Any]:
    """Items by status, and how long the oldest queued one has waited (0 when none waits)."""
    from classifier.contracts import timestamp_parse
    from dashboard.aws import dynamodb
    from dashboard.power.fleet import oldest_queued_created_at

    def read() -> dict[str, Any]:
        return {
            "counts": {status: dynamodb.status_count(status=status) for status in dynamodb.STATUSES},
            "oldest_queued": oldest_queued_created_at(),
        }

    found = _cached(f"items:{settings.DYNAMODB_TABLE}", ITEMS_CACHE_SECONDS, read)
    return {"counts": found["counts"], "oldest_age": _age(timestamp_parse(found["oldest_queued"]), now)}


def instances_read() -> dict[str, int]:
    from dashboard import compute
    from dashboard.compute.base import STATES

    def read() -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for instance in compute.backend().instances():
            counts[instance.state] = counts.get(instance.state, 0) + 1
        return counts

    return _cached(f"instances:{settings.COMPUTE_BACKEND}", INSTANCES_CACHE_SECONDS, read)


def endpoints_read() -> dict[str, int]:
    """Endpoints by state, from the panel's read (it keeps SageMaker's answer a few seconds itself)."""
    from dashboard.endpoints.base import STATES
    from dashboard.exceptions import EndpointStatusUnavailable
    from dashboard.power.fleet import endpoints_status

    endpoints, error = endpoints_status()
    if error:
        raise EndpointStatusUnavailable(error)
    counts = dict.fromkeys(STATES, 0)
    for endpoint in endpoints:
        counts[endpoint["status"]] = counts.get(endpoint["status"], 0) + 1
    return counts


def power_read(*, now: float) -> dict[str, float]:
    from dashboard.power import gpu_seconds_today
    from dashboard.power.state import tick_alive

    return {"gpu_seconds": gpu_seconds_today(now=now), "tick_alive": 1.0 if tick_alive() else 0.0}


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class StoreCollector(Collector):
    """The scrape-time gauges, one source at a time. `clock` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        up = _gauge("console_metrics_source_up", "1 when this scrape could read the source, 0 when not.", ["source"])
        for source, families in (
            ("redis", self._queues),
            ("dynamodb", self._items),
            ("compute", self._instances),
            ("endpoints", self._endpoints),
            ("power", self._power),
        ):
            try:
                read = list(families(now))
            except Exception as error:  # that source is down: the others are still worth a scrape
                log.warning("metrics: %s unreadable, left out: %s: %s", source, error.__class__.__name__, error)
                up.add_metric([source], 0.0)
                continue
            up.add_metric([source], 1.0)
            yield from read
        yield from self._prices()
        yield up

    def _queues(self, now: float) -> Iterator[GaugeMetricFamily]:
        queues = queues_read(now=now)
        depth = _gauge("console_queue_depth", "Jobs waiting in each RQ queue.", ["queue"])
        oldest = _gauge(
            "console_queue_oldest_age_seconds", "Age of the job at the head of each RQ queue (0 when empty).", ["queue"]
        )
        workers = _gauge("console_workers", "RQ workers registered for each queue.", ["queue"])
        for queue in queues:
            depth.add_metric([queue["queue"]], queue["depth"])
            oldest.add_metric([queue["queue"]], queue["oldest_age"])
            workers.add_metric([queue["queue"]], queue["workers"])
        yield from (depth, oldest, workers)

    def _items(self, now: float) -> Iterator[GaugeMetricFamily]:
        items = items_read(now=now)
        by_status = _gauge("console_items", "Items in the results table, by status.", ["status"])
        for status, count in items["counts"].items():
            by_status.add_metric([status], count)
        oldest = _gauge(
            "console_items_oldest_queued_age_seconds", "How long the oldest queued item has waited (0 when none)."
        )
        oldest.add_metric([], items["oldest_age"])
        yield from (by_status, oldest)

    def _instances(self, now: float) -> Iterator[GaugeMetricFamily]:
        family = _gauge("console_instances", "Inference instances, by state.", ["state"])
        for state, count in instances_read().items():
            family.add_metric([state], count)
        yield family

    def _endpoints(self, now: float) -> Iterator[GaugeMetricFamily]:
        family = _gauge("console_endpoints", "Model endpoints, by state.", ["state"])
        for state, count in endpoints_read().items():
            family.add_metric([state], count)
        yield family

    def _power(self, now: float) -> Iterator[GaugeMetricFamily]:
        power = power_read(now=now)
        seconds = _gauge("console_gpu_seconds_today", "Powered instance-seconds since UTC midnight, all instances.")
        seconds.add_metric([], power["gpu_seconds"])
        alive = _gauge("console_power_tick_up", "1 while `power_tick` is running (its heartbeat is fresh).")
        alive.add_metric([], power["tick_alive"])
        yield from (seconds, alive)

    def _prices(self) -> Iterator[GaugeMetricFamily]:
        price = _gauge("console_gpu_hourly_price_dollars", "Price of one instance-hour (GPU_HOURLY_PRICE).")
        price.add_metric([], settings.GPU_HOURLY_PRICE)
        yield price
        if settings.GPU_DAILY_BUDGET > 0:  # no budget, no series: the spend alert has nothing to compare
            budget = _gauge("console_gpu_daily_budget_dollars", "Daily GPU spend budget (GPU_DAILY_BUDGET).")
            budget.add_metric([], settings.GPU_DAILY_BUDGET)
            yield budget
