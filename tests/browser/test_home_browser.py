"""The home page's latest results in a real browser: readable dates, and no text wider than the window."""

from __future__ import annotations

import pytest

from dashboard.aws import dynamodb

pytestmark = pytest.mark.browser


def _page_overflow(page) -> int:
    """How many pixels the document is wider than the window (0 or less: no horizontal scroll)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def test_the_latest_results_show_the_created_date_and_time_apart(user_page, results_table):
    dynamodb.item_put_new(
        item=dynamodb.new_item(item_id="dated", text="A dated text.", created_at="2026-12-01T18:18:28.123456Z")
    )
    page = user_page

    page.goto("/")

    created = page.locator('#results-table tr[data-id="dated"] time')
    assert created.inner_text() == "2026-12-01 18:18:28"
    assert created.get_attribute("datetime") == "2026-12-01T18:18:28.123456Z"


@pytest.mark.parametrize("width", [1440, 1024, 700])
def test_a_long_unbroken_text_does_not_make_the_page_wider_than_the_window(user_page, results_table, screenshot, width):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="long", text="x" * 300))
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="short", text="A short text beside it."))
    page = user_page
    page.set_viewport_size({"width": width, "height": 900})

    page.goto("/")

    assert page.locator('#results-table tr[data-id="long"]').count() == 1
    assert _page_overflow(page) <= 0
    header = page.locator("header.topbar").bounding_box()
    table = page.locator("#results-table table").bounding_box()
    assert header is not None and table is not None
    assert table["x"] + table["width"] <= header["x"] + header["width"]
    screenshot(page, f"long-text-{width}")
    assert page.js_errors == []
