"""The result detail page in a real browser: every class's probability, each with a bar."""

from __future__ import annotations

import pytest

from dashboard.aws import dynamodb

pytestmark = pytest.mark.browser


def test_the_detail_page_shows_each_classs_probability_as_text_and_a_meter(user_page, results_table, screenshot):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="d-1", text="Lovely staff and a great meal."))
    dynamodb.item_claim(item_id="d-1", claimed_by="t")
    dynamodb.item_finish(
        item_id="d-1",
        status="done",
        claimed_by="t",
        label=1,
        label_name="positive",
        confidence=0.8765,
        probabilities={"negative": 0.1235, "positive": 0.8765},
        model="m",
    )
    page = user_page

    page.goto("/results/d-1/")

    table = page.get_by_role("table", name="Class probabilities")
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("th").inner_text() == "positive (label)"
    assert rows.nth(0).locator("td.num").inner_text() == "0.8765"
    assert rows.nth(1).locator("th").inner_text() == "negative"
    positive, negative = (table.get_by_role("meter", name=name) for name in ("positive", "negative"))
    assert positive.evaluate("meter => meter.value") == pytest.approx(0.8765)
    assert negative.evaluate("meter => meter.value") == pytest.approx(0.1235)
    assert positive.bounding_box()["width"] > 100  # a bar, not a collapsed inline element
    screenshot(page, "probabilities")
    assert page.js_errors == []
