"""Every page passes axe-core in Chromium with no violations at all, with data on it and as staff sees it.

One test per page, so a failure names the page; `axe_violations` (conftest) lists what to fix.
"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from dashboard.aws import dynamodb
from dashboard.models import Batch
from dashboard.services import api_token_create
from tests.browser.conftest import axe_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def generations_table(settings):
    name = f"test-generations-{uuid.uuid4().hex[:10]}"
    settings.DYNAMODB_GENERATIONS_TABLE = name
    dynamodb.generations_table_ensure(name=name)
    yield name
    dynamodb.table_delete(name=name)


@pytest.fixture
def items(results_table):
    """A finished, a failed and a queued item, so every kind of row and badge is on the pages."""
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="a11y-done", text="Lovely staff and a great meal."))
    dynamodb.item_claim(item_id="a11y-done", claimed_by="t")
    dynamodb.item_finish(
        item_id="a11y-done",
        status="done",
        claimed_by="t",
        label=1,
        label_name="positive",
        confidence=0.8765,
        probabilities={"negative": 0.1235, "positive": 0.8765},
        model="m",
    )
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="a11y-failed", text="This one broke."))
    dynamodb.item_claim(item_id="a11y-failed", claimed_by="t")
    dynamodb.item_finish(item_id="a11y-failed", status="failed", claimed_by="t", error="The model ran out of memory.")
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="a11y-queued", text="Still waiting."))
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="a11y-running", text="Being classified."))
    dynamodb.item_claim(item_id="a11y-running", claimed_by="t")


@pytest.fixture
def batches(items, django_user_model):
    """A running and a complete batch, so the bulk page lists both states."""
    owner = django_user_model.objects.create_user(username="bulk-owner")
    Batch.objects.create(id="a11yrunning", created_by=owner, source="paste", total=3)
    Batch.objects.create(
        id="a11ycomplete", created_by=owner, source="csv", filename="reviews.csv", total=2, completed_at=timezone.now()
    )


def test_the_login_page_has_no_accessibility_violations(page):
    page.goto("/accounts/login/")
    assert axe_violations(page) == []


def test_the_login_page_with_an_error_has_no_accessibility_violations(page):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong")
    page.click("form button[type=submit]")
    page.wait_for_selector(".error, .errorlist, [role=alert]")
    assert axe_violations(page) == []


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/submit/",
        "/results/",
        "/results/a11y-done/",
        "/results/a11y-failed/",
        "/batches/",
        "/batches/a11yrunning/",
        "/generate/",
        "/power/",
        "/power/audit/",
        "/settings/tokens/",
        "/webhooks/",
    ],
)
def test_each_page_has_no_accessibility_violations_for_staff(staff_page, batches, generations_table, path):
    api_token_create(user=staff_page.user, name="laptop")
    staff_page.goto(path)
    staff_page.wait_for_load_state("networkidle")
    assert axe_violations(staff_page) == []


@pytest.mark.parametrize("path", ["/", "/power/", "/settings/tokens/", "/review/?model=m", "/models/?model=m"])
def test_each_page_has_no_accessibility_violations_for_a_user(user_page, items, path):
    user_page.goto(path)
    user_page.wait_for_load_state("networkidle")
    assert axe_violations(user_page) == []


def test_the_tokens_page_showing_a_new_token_and_the_revoke_page_have_no_accessibility_violations(user_page):
    page = user_page
    page.goto("/settings/tokens/")
    page.get_by_role("button", name="Create token").click()
    page.get_by_label("Your new token").wait_for()
    assert axe_violations(page) == []
    page.locator("table.tokens a.button").first.click()
    page.wait_for_url("**/revoke/")
    assert axe_violations(page) == []


def test_the_explorer_with_a_selected_row_and_its_delete_dialog_has_no_accessibility_violations(staff_page, items):
    page = staff_page
    page.goto("/results/")
    page.check("#explorer input.select-row[value=a11y-done]")
    assert axe_violations(page) == []
    page.click("#explorer button.delete-selected")
    page.locator("#confirm-delete").wait_for()
    assert axe_violations(page) == []


def test_the_bulk_page_with_a_rejected_batch_has_no_accessibility_violations(user_page, results_table):
    page = user_page
    page.goto("/batches/")
    page.get_by_label("Or paste", exact=False).fill("a fine line\n" + "x" * 6000)
    page.get_by_role("button", name="Submit batch").click()
    page.locator(".report").wait_for()
    assert axe_violations(page) == []


def test_the_webhooks_page_showing_a_new_secret_and_a_webhook_with_its_delivery_log_have_no_violations(
    user_page, settings
):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    page = user_page
    page.goto("/webhooks/")
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/hooks")
    page.locator("form.webhook-form fieldset input[type=checkbox]").first.check()
    page.locator("form.webhook-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "whsec_" in page.content()
    assert axe_violations(page) == []
    page.locator("table.webhooks a").first.click()
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []


def test_review_mode_after_a_label_and_the_evaluation_it_makes_have_no_accessibility_violations(user_page, items):
    page = user_page
    page.goto("/review/?model=m")
    page.keyboard.press("1")
    page.wait_for_selector(".undo-bar")
    assert axe_violations(page) == []
    page.goto("/models/?model=m")
    page.wait_for_selector("table.confusion")
    assert axe_violations(page) == []
    page.goto("/results/a11y-done/")
    assert axe_violations(page) == []
