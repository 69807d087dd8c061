"""EC2 refuses to start the GPU instance: items stay queued, the panel says why, and once capacity returns
they are processed."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard import power
from dashboard.aws import dynamodb
from tests.dashboard.power_support import ec2_fleet, ec2_state, fault_proxy, moto_reset, moto_url  # noqa: F401
from tests.faults.conftest import wait_finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_items_wait_out_a_capacity_shortage_and_then_finish(
    user_client, results_table, queue, ec2_fleet, fault_proxy, workers
):
    [instance_id] = ec2_fleet["ids"][:1]
    fault_proxy.faults["StartInstances"] = "InsufficientInstanceCapacity"
    for text in ("Lovely weather today.", "This is broken and useless."):
        assert user_client.post(reverse("submit"), {"text": text}).status_code == 302
    ids = [item["id"] for item in dynamodb.items_with_status(status="queued")]
    assert len(ids) == 2

    power.power_tick()
    panel = user_client.get(reverse("power_panel")).content.decode()
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
