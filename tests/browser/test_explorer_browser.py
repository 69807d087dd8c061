"""The explorer and bulk submission in a real browser, with a real inference worker."""

from __future__ import annotations

import pytest

from dashboard.aws import dynamodb
from dashboard.models import Batch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORK_TIMEOUT_MS = 180_000  # the first classification on a cold, shared CPU


def test_a_submitted_text_turns_done_in_the_table(staff_page, inference_worker, screenshot):
    page = staff_page
    page.goto("/")
    page.fill("textarea[name=text]", "This is wonderful, I love it!")
    page.click("form[action='/submit/'] button[type=submit]")
    page.wait_for_url("**/results/")
    row = page.locator("#explorer tbody tr[data-id]").first
    assert row.get_attribute("data-status") in {"queued", "running", "done"}
    screenshot(page, "submitted")
    page.wait_for_selector("#explorer tbody tr[data-status=done]", timeout=WORK_TIMEOUT_MS)
    assert inference_worker.poll() is None
    assert page.locator("#explorer tbody tr[data-status=done] .col-result .label").inner_text() in {
        "positive",
        "negative",
    }
    assert page.locator("#live-poller.idle").count() == 1  # polling stopped once nothing was active
    screenshot(page, "done")
    page.locator("#explorer tbody tr[data-status=done] td.mono a").click()
    page.wait_for_selector("text=Timings")
    # The worker stored every class's probability: the demo model's two classes, each with a bar.
    meters = page.get_by_role("table", name="Class probabilities").get_by_role("meter")
    assert sorted(meters.evaluate_all("all => all.map(m => m.getAttribute('aria-label'))")) == ["negative", "positive"]
    screenshot(page, "detail")
    assert page.js_errors == []


def test_selecting_two_rows_and_deleting_them(staff_page, results_table, screenshot):
    page = staff_page
    for n in range(4):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"b-{n}", text=f"browser row {n}"))
    page.goto("/results/")
    header = page.locator("#explorer input.select-page")
    page.check("#explorer input.select-row[value=b-1]")
    page.check("#explorer input.select-row[value=b-2]")
    assert header.evaluate("box => box.indeterminate") is True
    assert page.locator("#explorer .selection-count").inner_text() == "2 selected"
    screenshot(page, "selected")
    page.click("#explorer button.delete-selected")
    dialog = page.locator("#confirm-delete")
    assert dialog.is_visible() and "cannot be undone" in dialog.inner_text()
    assert dialog.locator(".confirm-count").inner_text() == "2"
    screenshot(page, "confirm")
    dialog.locator(".confirm-yes").click()
    page.wait_for_selector("text=Deleted 2 item(s).")
    remaining = sorted(page.locator("#explorer tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)"))
    assert remaining == ["b-0", "b-3"]
    assert sorted(dynamodb.items_get_many(item_ids=[f"b-{n}" for n in range(4)])) == ["b-0", "b-3"]
    page.check("#explorer input.select-page")
    assert page.locator("#explorer .selection-count").inner_text() == "2 selected"
    screenshot(page, "after-delete")
    assert page.js_errors == []


def test_a_csv_upload_shows_its_progress_bar_complete(staff_page, inference_worker, tmp_path, screenshot):
    page = staff_page
    upload = tmp_path / "reviews.csv"
    upload.write_text(
        "text\r\n"
        + "".join(
            f'"{text}"\r\n'
            for text in [
                "Absolutely awful. I hate it.",
                "Great value, works perfectly, love it",
                'A "quoted" word, a comma, and café',
                "Terrible support, never again",
                "Best purchase this year",
            ]
        ),
        encoding="utf-8",
    )
    page.goto("/batches/")
    screenshot(page, "form")
    page.set_input_files("input[type=file][name=file]", str(upload))
    page.click("form.batch-form button[type=submit]")
    page.wait_for_url("**/batches/*/")
    screenshot(page, "progress")
    page.wait_for_selector("#batch-progress[data-status=complete]", timeout=WORK_TIMEOUT_MS)
    assert "100.0%" in page.locator("#batch-progress .percent").inner_text()
    # The bars fill the track once their width transition ends (they are sized by batch.js).
    page.wait_for_function(
        """() => {
            const width = (selector) => document.querySelector(selector).getBoundingClientRect().width;
            const bars = width("#batch-progress .bar-done") + width("#batch-progress .bar-failed");
            return Math.abs(bars - width("#batch-progress .progress")) < 2;
        }""",
        timeout=5_000,
    )
    assert page.locator("a:has-text('Download results (CSV)')").count() == 1
    batch = Batch.objects.get()
    assert batch.completed_at is not None and batch.total == 5
    screenshot(page, "complete")
    assert page.js_errors == []


def test_a_bad_csv_is_reported_in_the_page(staff_page, results_table, tmp_path, screenshot):
    page = staff_page
    upload = tmp_path / "bad.csv"
    upload.write_text("text\r\nfine\r\n\r\n   \r\nalso fine\r\n", encoding="utf-8")
    page.goto("/batches/")
    page.set_input_files("input[type=file][name=file]", str(upload))
    page.click("form.batch-form button[type=submit]")
    page.wait_for_selector(".report")
    assert "Nothing was submitted" in page.locator(".report").inner_text()
    assert page.locator(".report tbody tr").count() == 2
    screenshot(page, "report")
    assert Batch.objects.count() == 0


def test_the_home_tables_live_rows_update_and_polling_stops(staff_page, results_table, screenshot):
    page = staff_page
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="home-1", text="a queued text on the home page"))
    page.goto("/")
    assert page.locator("#results-table[hx-trigger]").count() == 1
    dynamodb.item_claim(item_id="home-1", claimed_by="browser-test")
    dynamodb.item_finish(
        item_id="home-1",
        status="done",
        claimed_by="browser-test",
        label=1,
        label_name="positive",
        confidence=0.9,
        model="m",
    )
    page.wait_for_selector("#results-table:not([hx-trigger])", timeout=15_000)
    assert "positive" in page.locator("#results-table tbody").inner_text()
    screenshot(page, "home-done")
    page.wait_for_timeout(2500)
    assert page.locator("#results-table:not([hx-trigger])").count() == 1
    assert page.js_errors == []
