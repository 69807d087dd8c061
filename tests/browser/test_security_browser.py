"""The Content Security Policy in a real Chromium: every page works under it and nothing is refused."""

from __future__ import annotations

import pytest

from dashboard.aws import dynamodb

PAGES = ["/", "/submit/", "/results/", "/batches/", "/power/", "/generate/"]


@pytest.fixture
def csp_violations(staff_page):
    seen: list[str] = []
    staff_page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return seen


def test_no_page_trips_the_content_security_policy(staff_page, csp_violations, results_table, redis_conn, screenshot):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="csp-check", text="<script>alert(1)</script> hello"))
    for path in [*PAGES, "/results/csp-check/"]:
        response = staff_page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        staff_page.wait_for_load_state("networkidle")
    screenshot(staff_page, "result-detail-under-csp")

    assert csp_violations == []
    assert staff_page.js_errors == []
    assert "<script>alert(1)</script>" in staff_page.inner_text("main")  # shown as text, never run


def test_a_locked_login_says_when_to_try_again_under_the_policy(page, django_user_model, redis_conn, screenshot):
    django_user_model.objects.create_user(username="locked-out", password="correct horse battery")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.goto("/accounts/login/")
    for attempt in range(5):
        page.fill("input[name=username]", "locked-out")
        page.fill("input[name=password]", f"wrong {attempt}")
        with page.expect_navigation():
            page.click("button[type=submit]")

    assert page.locator("h1").inner_text() == "Too many failed logins"
    assert "paused for 1 min, until" in page.inner_text("main")
    screenshot(page, "login-locked")
    page.click("text=Try again")
    page.fill("input[name=username]", "locked-out")
    page.fill("input[name=password]", "correct horse battery")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Too many failed logins"  # the right password waits too
    assert violations == []
    assert page.js_errors == []
