"""EC2 refuses to start the GPU instance, or starts one whose worker never comes up: items stay queued,
the panel says why, and once capacity returns they are processed."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from dashboard import power
from dashboard.aws import dynamodb
from dashboard.models import AuditEvent
from tests.dashboard.power_support import ec2_fleet, ec2_state, fault_proxy, moto_reset, moto_url  # noqa: F401
from tests.faults.conftest import wait_finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_items_wait_out_a_capacity_shortage_and_then_finish(
    user_client, results_table, queue, ec2_fleet, fault_proxy, workers
):
    [instance_id] = ec2_fleet["ids"][:1]
    fault_proxy.faults["StartInstances"] = "InsufficientInstanceCapacity"
    for text in ("Lovely weather today.", "This is broken and useless."):
        assert user_client.post(reverse("dashboard:submit"), {"text": text}).status_code == 302
    ids = [item["id"] for item in dynamodb.items_with_status(status="queued")]
    assert len(ids) == 2

    power.power_tick()
    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert "InsufficientInstanceCapacity" in panel and "retrying in" in panel
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    assert {item["status"] for item in dynamodb.items_get_many(item_ids=ids).values()} == {"queued"}
    assert queue.count == 2

    fault_proxy.faults.clear()  # capacity is back
    power.power_tick(now=power.power_error()["retry_at"] + 1)
    assert ec2_state(ec2_fleet, instance_id) == "running"
    worker = workers.start("gpu-instance-worker")  # what the instance runs once it has booted

    items = wait_finished(ids, timeout=180, alive=[worker])
    assert {item["status"] for item in items.values()} == {"done"}


def test_an_instance_whose_worker_never_reports_is_stopped_and_its_items_wait_then_finish(
    user_client, results_table, queue, ec2_fleet, workers, settings
):
    [instance_id] = ec2_fleet["ids"][:1]
    timeout = settings.POWER_BOOT_TIMEOUT
    for text in ("Lovely weather today.", "This is broken and useless."):
        assert user_client.post(reverse("dashboard:submit"), {"text": text}).status_code == 302
    ids = [item["id"] for item in dynamodb.items_with_status(status="queued")]
    assert len(ids) == 2
    assert ec2_state(ec2_fleet, instance_id) == "running"  # started for the submissions
    started = time.time()

    # EC2 says running, but no worker ever registers from it (a boot script or a worker service that fails).
    power.power_tick(now=started + timeout - 30)
    assert ec2_state(ec2_fleet, instance_id) == "running"  # patience while it might still be booting
    power.power_tick(now=started + timeout + 1)
    assert ec2_state(ec2_fleet, instance_id) == "stopped"  # it costs money and does nothing
    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert f'data-silent="{instance_id}"' in panel
    assert f"No worker reported from {instance_id} within 10 min" in panel
    assert "Queued work stays queued" in panel
    stop = AuditEvent.objects.filter(action="stop", target=instance_id).latest("id")
    assert stop.outcome == "ok" and "no worker reported" in stop.detail
    assert {item["status"] for item in dynamodb.items_get_many(item_ids=ids).values()} == {"queued"}
    assert queue.count == 2

    power.power_tick(now=started + timeout + 60)
    assert ec2_state(ec2_fleet, instance_id) == "stopped"  # resting: not started again at once

    power.power_tick(now=started + 2 * timeout + 2)  # capacity is back: this boot works
    assert ec2_state(ec2_fleet, instance_id) == "running"
    worker = workers.start("gpu-instance-worker", COMPUTE_INSTANCE_ID=instance_id)
    items = wait_finished(ids, timeout=180, alive=[worker])
    assert {item["status"] for item in items.values()} == {"done"}
    assert all(item["result_writes"] == 1 for item in items.values())
