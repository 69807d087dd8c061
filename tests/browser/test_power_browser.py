"""A staff member stops an instance from the dashboard's fleet panel in a real Chromium."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dashboard.power_support import ec2_fleet, ec2_state, moto_reset, moto_url  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def test_staff_stop_an_instance_after_confirming_and_see_it_stopped(
    page, live_server, django_user_model, results_table, ec2_fleet
):
    [instance_id] = ec2_fleet["ids"][:1]
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    django_user_model.objects.create_user(username="sam", password="correct horse battery", is_staff=True)
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/")
    row = page.locator(f'#power-panel tr[data-instance="{instance_id}"]')
    row.wait_for(timeout=15000)
    assert row.get_attribute("data-state") == "running"
    page.screenshot(path=str(ARTIFACTS / "power-panel-running.png"), full_page=True)

    row.locator('a[data-action="stop"]').click()
    page.wait_for_url(f"**/power/instances/{instance_id}/stop/")
    assert ec2_state(ec2_fleet, instance_id) == "running", "nothing happens before the confirmation"
    page.screenshot(path=str(ARTIFACTS / "power-confirm-stop.png"), full_page=True)
    page.click("button[name=confirm]")

    page.wait_for_url(f"{live_server.url}/")
    stopped = page.locator(f'#power-panel tr[data-instance="{instance_id}"][data-state="stopped"]')
    stopped.wait_for(timeout=15000)
    assert "requested" in page.locator(".messages").inner_text()
    assert page.locator("#power-panel table.audit").inner_text().count("sam") >= 1
    page.screenshot(path=str(ARTIFACTS / "power-panel-stopped.png"), full_page=True)
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
