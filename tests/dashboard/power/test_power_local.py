"""The local backend with real processes: a `manage.py inference_worker` started on demand, stopped when idle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from dashboard import compute, power
from dashboard.aws import dynamodb
from dashboard.compute.local import KEY_PREFIX, process_alive, process_start

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def local_fleet(settings, redis_conn, results_table, demo_model_dir):
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_INSTANCE_COUNT = 1
    settings.LOCAL_BOOT_DELAY = 0.5
    settings.LOCAL_STOP_TIMEOUT = 30
    settings.CLASSIFIER_MODEL = str(demo_model_dir)
    settings.SAGEMAKER_ENDPOINTS = []
    power.tick_heartbeat()  # as if `power_tick` were running: the local backend starts workers only then
    backend = compute.backend()
    yield backend
    record = backend.record("local-1")
    pid = int(record.get("pid") or 0)
    if process_alive(pid, record.get("proc_start", "")):
        os.killpg(pid, signal.SIGKILL)


def wait_for(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def state(backend) -> str:
    return backend.instances()[0].state


def test_the_full_cycle_from_stopped_to_work_done_to_stopped(user_client, local_fleet, settings, results_table):
    assert state(local_fleet) == "stopped"

    response = user_client.post(reverse("dashboard:submit"), {"text": "This is wonderful, I love it!"})
    assert response.status_code == 302
    assert state(local_fleet) == "pending"
    record = local_fleet.record("local-1")
    pid = int(record["pid"])
    assert process_alive(pid, record["proc_start"])

    wait_for(lambda: state(local_fleet) == "running", timeout=120, what="the worker to load its model")
    [item] = dynamodb.items_page_newest(limit=5)[0]
    done = wait_for(
        lambda: (i := dynamodb.item_get(item_id=item["id"]))["status"] == "done" and i, timeout=60, what="the item"
    )
    assert done["label_name"] == "positive"
    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert 'data-instance="local-1" data-state="running"' in panel
    assert "on cpu" in panel  # the worker published its model and device

    # Idle, then stopped by the periodic check, run as a separate process (state lives in Redis).
    env = os.environ | {"DYNAMODB_TABLE": results_table, "COMPUTE_BACKEND": "local", "IDLE_STOP_AFTER": "0"}
    tick = [sys.executable, str(ROOT / "manage.py"), "power_tick", "--once"]
    subprocess.run(tick, env=env, check=True, timeout=60)
    wait_for(lambda: not process_alive(pid, record["proc_start"]), timeout=30, what="the worker to exit")
    assert wait_for(lambda: state(local_fleet) == "stopped", timeout=10, what="stopped")
    assert dynamodb.item_get(item_id=item["id"])["status"] == "done"


def test_a_stopping_instance_is_waited_for_then_started_without_losing_work(
    local_fleet, settings, redis_conn, queue, user_client
):
    settings.LOCAL_BOOT_DELAY = 60  # the restarted "instance" stays in its boot: enough to see it pending
    # A real process plays the worker that is finishing its last job.
    finishing = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    redis_conn.hset(
        KEY_PREFIX + "local-1",
        mapping={
            "state": "stopping",
            "state_since": time.time(),
            "pid": finishing.pid,
            "proc_start": process_start(finishing.pid),
        },
    )
    from dashboard.queue import classify_enqueue

    classify_enqueue(item_ids=["waiting-item"])
    assert power.capacity_ensure(trigger="submission").waiting == ("local-1",)
    assert state(local_fleet) == "stopping"
    assert (
        "waiting for local-1 to finish stopping" in user_client.get(reverse("dashboard:power_panel")).content.decode()
    )

    finishing.terminate()
    finishing.wait(10)
    decision = power.power_tick()
    assert decision.start == ("local-1",)
    assert state(local_fleet) == "pending"
    assert queue.count == 1  # the work is still there for the worker
    record = local_fleet.record("local-1")
    assert process_alive(int(record["pid"]), record["proc_start"])

    assert local_fleet.stop("local-1") in {"stopping", "stopped"}
    wait_for(lambda: state(local_fleet) == "stopped", timeout=15, what="the booting process to stop")


def test_a_worker_that_dies_is_seen_as_stopped(local_fleet, settings):
    settings.LOCAL_BOOT_DELAY = 60
    assert local_fleet.start("local-1") == "pending"
    assert local_fleet.start("local-1") == "pending"  # a second start is a no-op, not a second process
    record = local_fleet.record("local-1")
    os.killpg(int(record["pid"]), signal.SIGKILL)
    wait_for(lambda: state(local_fleet) == "stopped", timeout=10, what="the dead worker to be noticed")
    assert "exited during boot" in local_fleet.instances()[0].detail


def test_without_a_running_power_tick_no_local_worker_is_started(user_client, local_fleet, redis_conn, queue):
    redis_conn.delete(power.TICK_ALIVE_KEY)
    assert user_client.post(reverse("dashboard:submit"), {"text": "nobody would stop it"}).status_code == 302
    assert queue.count == 1
    assert state(local_fleet) == "stopped"
    assert local_fleet.record("local-1").get("pid") in (None, "0")
    assert 'data-tick="missing"' in user_client.get(reverse("dashboard:power_panel")).content.decode()


def test_a_process_is_ours_only_while_it_runs_with_the_start_we_recorded():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = process_start(child.pid)
    assert start and process_alive(child.pid, start) and process_alive(child.pid)
    assert not process_alive(child.pid, f"{float(start) - 100:.2f}")  # the pid reused by a later process
    child.terminate()
    deadline = time.monotonic() + 10
    while process_alive(child.pid, start) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child.pid, start)  # exited, not yet reaped: a zombie is not alive
    child.wait()
    assert process_start(child.pid) == "" and not process_alive(child.pid)
    assert not process_alive(0) and not process_alive(-1)
