"""The port the inference worker and `power_tick` serve their own metrics on (prometheus-client's HTTP server).

Each is one long-lived process (the worker does not fork per job), so its metrics live in its memory and
its own small server thread answers `GET /metrics` on METRICS_WORKER_PORT or METRICS_POWER_TICK_PORT.
Port 0 turns it off. A port that cannot be bound is logged and skipped: metrics never stop the work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class ProcessMetrics(Collector):
    """Everything registered in this process (the families in `dashboard.metrics`, process and GC stats)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry_with(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry of this process's metrics plus `collectors` (read at each scrape)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessMetrics())
    for collector in collectors:
        registry.register(collector)
    return registry


def metrics_server_start(*, port: int, collectors: Iterable[Collector] = (), what: str, setting: str) -> Any:
    """Serve this process's metrics on `port` (all interfaces) from a daemon thread; returns the server, or None.

    None when `port` is 0, or when it cannot be bound (taken by another process: say which setting moves it).
    """
    if not port:
        return None
    try:
        server, _thread = start_http_server(port, registry=registry_with(collectors))
    except OSError as error:
        log.warning("%s metrics not served: port %d: %s (set %s, or 0 to turn them off)", what, port, error, setting)
        return None
    log.info("%s metrics on http://0.0.0.0:%d/metrics", what, port)
    return server
