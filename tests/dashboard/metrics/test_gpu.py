"""GPU memory and utilisation through NVML: reported when a GPU answers, nothing (and no error) when none does."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from dashboard.metrics.gpu import GpuCollector
from tests.dashboard.metrics.support import GIB, FakeNvml, parse, value


def _scrape(collector: GpuCollector) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def test_each_gpus_memory_and_utilisation_is_reported():
    samples = _scrape(GpuCollector(nvml=FakeNvml()))

    assert value(samples, "console_gpu_memory_used_bytes", gpu="0") == GIB
    assert value(samples, "console_gpu_memory_used_bytes", gpu="1") == 2 * GIB
    assert value(samples, "console_gpu_memory_total_bytes", gpu="1") == 24 * GIB
    assert value(samples, "console_gpu_utilization_ratio", gpu="0") == 0.35
    assert value(samples, "console_gpu_utilization_ratio", gpu="1") == 0.8


def test_without_a_driver_nothing_is_reported_and_nvml_is_not_asked_again():
    nvml = FakeNvml(fail_init=True)
    collector = GpuCollector(nvml=nvml)

    assert _scrape(collector) == {}
    assert _scrape(collector) == {}
    assert nvml.inits == 1


def test_the_real_library_on_this_machine_never_raises():
    samples = _scrape(GpuCollector())  # pynvml itself: a GPU here reports, a machine without one reports nothing

    assert all(name.startswith("console_gpu_") for name, _ in samples)
