"""Cancel an item from its page, and hold then release an instance on the Fleet page, in a real Chromium."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest

from dashboard import power
from dashboard.aws import dynamodb
from dashboard.models import AuditEvent
from tests.dashboard.power_support import ec2_fleet, moto_reset, moto_url  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_user_cancels_a_queued_item_from_its_page(user_page, results_table, redis_conn, screenshot):
    item = dynamodb.new_item(item_id="q-1", text="Please do not classify this one.")
    dynamodb.item_put_new(item=item | {"submitted_by": user_page.user.get_username()})
    page = user_page

    page.goto("/results/q-1/")
    assert page.locator(".status").first.inner_text() == "queued"
    page.fill("#cancel-reason", "sent by mistake")
    page.click('button[data-action="cancel"]')
    page.wait_for_url("**/results/q-1/")

    assert "Cancelled: it will not be classified." in page.locator("body").inner_text()
    assert page.locator(".status").first.inner_text() == "cancelled"
    assert page.locator("#detail-fields").get_by_text("Cancelled by browser-user: sent by mistake").count() == 1
    assert page.locator('button[data-action="cancel"]').count() == 0
    assert dynamodb.item_get(item_id="q-1")["status"] == "cancelled"
    screenshot(page, "cancelled")
    assert page.js_errors == []


def test_staff_hold_and_release_an_instance_on_the_fleet_page(staff_page, results_table, ec2_fleet, screenshot):
    [instance_id] = ec2_fleet["ids"][:1]
    page = staff_page

    page.goto("/power/")
    row = page.locator(f'tr[data-instance="{instance_id}"]')
    row.locator('a[data-hold-action="hold"]').click()
    page.wait_for_url(f"**/power/holds/{instance_id}/hold/")
    assert power.holds_all() == {}, "nothing happens before the confirmation"
    page.fill("#hold-reason", "replacing the GPU driver")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**/power/")

    held = page.locator(f'tr[data-instance="{instance_id}"] .held')
    held.wait_for()
    assert held.inner_text() == "held by browser-staff: replacing the GPU driver"
    assert page.locator(f'tr[data-instance="{instance_id}"] a[data-action="start"]').count() == 0
    screenshot(page, "held")

    page.locator(f'tr[data-instance="{instance_id}"] a[data-hold-action="release"]').click()
    page.wait_for_url(f"**/power/holds/{instance_id}/release/")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**/power/")
    page.locator(f'tr[data-instance="{instance_id}"] a[data-action="start"]').wait_for()

    assert page.locator(f'tr[data-instance="{instance_id}"] .held').count() == 0
    assert power.holds_all() == {}
    actions = list(AuditEvent.objects.filter(kind="power").order_by("id").values_list("action", flat=True))
    assert actions == ["hold", "release"]
    assert page.js_errors == []
