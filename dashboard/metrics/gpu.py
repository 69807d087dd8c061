"""The GPU's memory and utilisation, read through NVML (nvidia-ml-py) when Prometheus scrapes the worker.

NVML is loaded on the first scrape, not at import: the web tier never needs it. A machine with no
NVIDIA driver or GPU (a laptop, CI, a CPU worker) exposes none of these series and logs that once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class GpuCollector(Collector):
    """console_gpu_memory_used_bytes, console_gpu_memory_total_bytes, console_gpu_utilization_ratio by `gpu`."""

    def __init__(self, *, nvml: Any = None) -> None:
        self._nvml = nvml  # a test's stand-in for pynvml
        self._ready: bool | None = None  # None: not tried yet; False: no GPU here, never try again
        self._lock = threading.Lock()

    def _init(self) -> bool:
        with self._lock:
            if self._ready is None:
                try:
                    if self._nvml is None:
                        import pynvml

                        self._nvml = pynvml
                    self._nvml.nvmlInit()
                    self._ready = True
                except Exception as error:  # no driver, no library, no device: nothing to report
                    log.info("no GPU metrics: NVML is not available here (%s)", error)
                    self._ready = False
            return self._ready

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self._init():
            return
        nvml = self._nvml
        used = GaugeMetricFamily("console_gpu_memory_used_bytes", "GPU memory in use.", labels=["gpu"])
        total = GaugeMetricFamily("console_gpu_memory_total_bytes", "GPU memory installed.", labels=["gpu"])
        busy = GaugeMetricFamily(
            "console_gpu_utilization_ratio", "Share of the last sample period the GPU was busy (0-1).", labels=["gpu"]
        )
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                used.add_metric([str(index)], float(memory.used))
                total.add_metric([str(index)], float(memory.total))
                busy.add_metric([str(index)], nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100.0)
        except Exception as error:  # a device gone or in a bad state: this scrape has no GPU series
            log.warning("GPU metrics unreadable: %s", error)
            return
        yield from (used, total, busy)
