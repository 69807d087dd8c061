"""What the engine reports about its device, and the worker publishes with its meta."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.contracts import CUDA_MEMORY_FIELDS, WORKER_META_PREFIX
from classifier.engine import _rss_bytes


def worker_meta_publish(**kwargs):
    # The worker needs rq and structlog, which a bare GPU image (bench/gpu/run.sh) does not have.
    pytest.importorskip("rq")
    pytest.importorskip("structlog")
    from classifier.worker import worker_meta_publish

    return worker_meta_publish(**kwargs)


class RecordingRedis:
    """The two calls worker_meta_publish makes, recorded."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.expiries: dict[str, int] = {}

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        self.hashes.setdefault(key, {}).update(mapping)

    def expire(self, key: str, seconds: int) -> None:
        self.expiries[key] = seconds


def test_a_cpu_engine_reports_its_device_dtype_and_resident_memory(tiny_engine) -> None:
    report = tiny_engine.device_report()
    assert (report["device"], report["dtype"]) == ("cpu", "float32")
    assert all(report[name] is None for name in CUDA_MEMORY_FIELDS)
    rss = report["rss_bytes"]
    assert isinstance(rss, int) and rss > 50 * 2**20  # torch and a model are loaded
    assert report["out_of_memory_splits"] == tiny_engine.stats["out_of_memory_splits"]


def test_resident_memory_is_none_without_proc(tmp_path: Path) -> None:
    assert _rss_bytes(tmp_path / "missing") is None
    (tmp_path / "statm").write_text("100 25 3 1 0 20 0\n")
    assert _rss_bytes(tmp_path / "statm") is not None and _rss_bytes(tmp_path / "statm") % 25 == 0


def test_the_worker_publishes_the_device_report_with_its_meta(tiny_engine) -> None:
    connection = RecordingRedis()
    key = worker_meta_publish(worker_name="w-1", connection=connection, engine=tiny_engine)
    assert key == WORKER_META_PREFIX + "w-1"
    meta = connection.hashes[key]
    assert (meta["device"], meta["dtype"], meta["model"]) == ("cpu", "float32", tiny_engine.model_name)
    assert int(meta["rss_bytes"]) > 0
    assert meta["memory_allocated_bytes"] == meta["memory_total_bytes"] == ""  # no GPU figures on a CPU
    assert meta["out_of_memory_splits"] == str(tiny_engine.stats["out_of_memory_splits"])
    assert all(isinstance(value, str) for value in meta.values())  # a Redis hash holds strings


def test_an_engine_without_a_device_report_publishes_the_rest() -> None:
    class Remote:  # like the SageMaker stand-in: a device name and a dtype, no memory of its own
        model_name, device, dtype = "endpoint", "sagemaker", "n/a"

    connection = RecordingRedis()
    key = worker_meta_publish(worker_name="w-2", connection=connection, engine=Remote())
    assert connection.hashes[key]["device"] == "sagemaker"
    assert "rss_bytes" not in connection.hashes[key]
