"""Review mode driven by the keyboard, and the Models page it feeds, in a real Chromium."""

from __future__ import annotations

import pytest

from dashboard import ratelimit
from dashboard.aws import dynamodb
from tests.dashboard.labels.support import done_item

pytestmark = pytest.mark.browser


def test_a_user_reviews_with_the_keyboard_and_sees_the_evaluation(
    user_page, results_table, redis_conn, settings, screenshot
):
    settings.CLASSIFIER_MODEL = "m"
    done_item("unsure", label_name="positive", confidence=0.52)
    done_item("middling", label_name="negative", confidence=0.7)
    done_item("sure", label_name="positive", confidence=0.97)
    page = user_page

    page.goto("/review/")
    assert page.locator(".review-item").get_attribute("data-id") == "unsure"
    screenshot(page, "review")
    page.keyboard.press("1")  # negative: the model was wrong
    page.wait_for_selector('.review-item[data-id="middling"]')
    page.keyboard.press("s")  # skip the middling one
    page.wait_for_selector('.review-item[data-id="sure"]')
    page.keyboard.press("2")  # positive: right
    page.wait_for_selector(".empty-queue")
    page.keyboard.press("u")  # undo the last label: "sure" comes back
    page.wait_for_selector('.review-item[data-id="sure"]')
    page.keyboard.press("2")
    page.wait_for_selector(".empty-queue")

    assert dynamodb.item_get(item_id="unsure")["human_label_name"] == "negative"
    assert dynamodb.item_get(item_id="middling")["human_label_name"] is None
    assert dynamodb.item_get(item_id="sure")["human_label_name"] == "positive"

    page.goto("/models/")
    assert page.locator("strong.accuracy").inner_text() == "0.500"
    assert page.locator("dd.labelled").inner_text().startswith("2")
    screenshot(page, "models")
    page.locator("table.confusion a").first.click()
    page.wait_for_url("**/results/?model=m*")
    assert page.locator("tr[data-id]").count() == 1
    assert page.js_errors == []
    ratelimit.submissions_reset(user=page.user)
