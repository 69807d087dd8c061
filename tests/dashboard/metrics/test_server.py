"""The inference worker's and power_tick's own metrics ports: served from the process, off at 0."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dashboard import metrics
from dashboard.devservices import free_port
from dashboard.metrics.gpu import GpuCollector
from dashboard.metrics.server import metrics_server_start
from tests.dashboard.metrics.support import FakeNvml, parse, value

ROOT = Path(__file__).resolve().parents[3]


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _wait_for(port: int, *, until, process: subprocess.Popen, timeout: float) -> dict:
    """Scrape `port` until `until(samples)` holds; fails if the process exits first."""
    deadline = time.monotonic() + timeout
    samples: dict = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process exited"
        try:
            samples = parse(_get(port))
        except (urllib.error.URLError, ConnectionError):
            samples = {}
        if samples and until(samples):
            return samples
        time.sleep(0.3)
    raise AssertionError(f"port {port} never answered as expected; last scrape had {len(samples)} samples")


def test_the_process_metrics_and_its_collectors_are_served_on_the_port():
    port = free_port()
    metrics.TEXTS_CLASSIFIED.labels(model="served-model", outcome="done").inc(2)
    server = metrics_server_start(port=port, collectors=[GpuCollector(nvml=FakeNvml())], what="test", setting="X")
    try:
        samples = parse(_get(port))
    finally:
        server.shutdown()
        server.server_close()

    assert value(samples, "console_texts_classified_total", model="served-model", outcome="done") >= 2
    assert value(samples, "console_gpu_memory_total_bytes", gpu="0") > 0


def test_port_zero_serves_nothing():
    assert metrics_server_start(port=0, what="test", setting="X") is None


def test_a_port_that_is_taken_is_logged_and_the_process_goes_on(caplog):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="dashboard.metrics.server"):
            assert metrics_server_start(port=port, what="worker", setting="METRICS_WORKER_PORT") is None

    assert "set METRICS_WORKER_PORT" in caplog.text


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *command],
            cwd=ROOT,
            env=os.environ | env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen, log: Path) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    print(log.read_text(errors="replace")[-3000:])


@pytest.mark.django_db
def test_power_tick_serves_its_checks_on_its_port(results_table, redis_conn, tmp_path):
    port = free_port()
    log = tmp_path / "power_tick.log"
    tick = _start(["power_tick"], {"METRICS_POWER_TICK_PORT": str(port), "DYNAMODB_TABLE": results_table}, log)
    try:
        samples = _wait_for(
            port,
            until=lambda s: (value(s, "console_power_ticks_total", outcome="ok") or 0) >= 1,
            process=tick,
            timeout=60,
        )
    finally:
        _stop(tick, log)

    assert value(samples, "console_submissions_accepted_total") == 0  # its own process's counters, not the web's


@pytest.mark.slow
@pytest.mark.django_db
def test_the_inference_worker_serves_its_model_load_on_its_port(results_table, redis_conn, demo_model_dir, tmp_path):
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        "METRICS_WORKER_PORT": str(port),
        "DYNAMODB_TABLE": results_table,
        "CLASSIFIER_MODEL": str(demo_model_dir),
        "HF_HUB_OFFLINE": "1",
    }
    worker = _start(["inference_worker", "--name", "metrics-port-worker"], env, log)
    try:
        samples = _wait_for(
            port,
            until=lambda s: any(name == "console_model_load_seconds" for name, _ in s),
            process=worker,
            timeout=180,
        )
    finally:
        _stop(worker, log)

    [(_, labels)] = [key for key in samples if key[0] == "console_model_load_seconds"]
    assert dict(labels)["device"] == "cpu"
    assert samples[("console_model_load_seconds", labels)] > 0
