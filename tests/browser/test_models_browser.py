"""The Models page for staff in a real Chromium: register a version, promote it after the confirm page,
a fine-tune's page and a shadow comparison's report, each checked with axe."""

from __future__ import annotations

import pytest

from classifier.contracts import SERVING_MODEL_KEY
from dashboard.finetune import services as finetune
from dashboard.registry import services, shadow
from tests.browser.conftest import axe_violations
from tests.dashboard.labels.support import done_item

pytestmark = pytest.mark.browser


def test_staff_register_and_promote_a_version(staff_page, results_table, redis_conn, screenshot):
    page = staff_page
    page.goto("/models/")
    page.fill("#register-name", "demo")
    page.fill("#register-source", "/srv/models/demo-v2")
    page.fill("#register-data", "reviews, December")
    page.click("text=Register as a candidate")
    page.wait_for_selector('tr[data-version="demo@1"]')
    assert "Registered demo@1 as a candidate." in page.locator("body").inner_text()

    page.click('tr[data-version="demo@1"] >> text=Promote…')
    page.wait_for_url("**/models/versions/demo@1/promote/")
    assert axe_violations(page) == []
    screenshot(page, "confirm")
    page.click("button[name=confirm]")
    page.wait_for_selector("strong.serving")

    assert page.locator("strong.serving").inner_text() == "demo@1"
    assert page.locator('tr[data-version="demo@1"] .status').inner_text() == "serving"
    assert redis_conn.get(SERVING_MODEL_KEY) is not None
    assert axe_violations(page) == []
    screenshot(page, "promoted")
    assert page.js_errors == []


def test_a_fine_tune_and_a_comparison_have_readable_pages(
    staff_page, results_table, redis_conn, screenshot, settings, tmp_path
):
    settings.FINETUNE_OUTPUT_DIR = str(tmp_path)
    page = staff_page
    version = services.model_register(name="demo", source="/srv/models/demo", user=page.user)
    done_item("d-1", model="old@1")
    run = finetune.finetune_start(
        user=page.user,
        name="demo",
        base=version.id,
        rows=[[f"text {n}", n % 2, ["negative", "positive"][n % 2]] for n in range(12)],
        data_summary="12 rows",
        parameters={"epochs": 1},
    )
    page.goto(f"/models/finetunes/{run.id}/")
    assert page.locator("#finetune-progress").get_attribute("data-status") == "queued"
    assert axe_violations(page) == []
    screenshot(page, "finetune")

    comparison = shadow.shadow_start(user=page.user, version_id=version.id, item_ids=["d-1"], scope="1 selected item")
    page.goto(f"/models/shadows/{comparison.id}/")
    assert page.locator("#shadow-report").get_attribute("data-status") == "queued"
    assert axe_violations(page) == []
    page.goto("/models/")
    assert axe_violations(page) == []
    screenshot(page, "models")
    assert page.js_errors == []
