"""The Generate page in a real Chromium: submit a prompt, see the busy state, the text and the history."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dashboard.sagemaker_fakes import Reply, ScriptedAws, aws_error

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def page(live_server, django_user_model):
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    django_user_model.objects.create_user(username="alice", password="correct horse battery")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))  # uncaught exceptions in our scripts
        tab.goto(f"{live_server.url}/accounts/login/?next=/generate/")
        tab.fill("input[name=username]", "alice")
        tab.fill("input[name=password]", "correct horse battery")
        tab.click("form button[type=submit]")
        tab.wait_for_url(f"{live_server.url}/generate/")
        yield tab
        browser.close()
    assert errors == [], errors


def test_a_prompt_becomes_generated_text_with_a_busy_state_meanwhile(generations_table, page, settings):
    answer = [{"generated_text": " there lived a model that finished every sentence it was given."}]
    with ScriptedAws(Reply(body=answer)) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        page.fill("textarea[name=prompt]", "Once upon a time")
        page.fill("input[name=max_new_tokens]", "30")
        # Hold the navigation so the in-flight state can be seen; our handler has run by then.
        page.evaluate("document.getElementById('generate-form').addEventListener('submit', e => e.preventDefault())")
        page.click("#generate-form button[type=submit]")

        button = page.locator("#generate-form button[type=submit]")
        expect(button).to_be_disabled()
        expect(button).to_have_text("Generating…")
        expect(page.locator(".generate-busy")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "generate-busy.png"))
        page.evaluate("document.getElementById('generate-form').submit()")
        page.wait_for_selector("pre.generated .continuation")

    assert page.locator("pre.generated .prompt").inner_text() == "Once upon a time"
    assert "finished every sentence" in page.locator("pre.generated .continuation").inner_text()
    assert page.locator("table.generations tbody tr").count() == 1
    assert "done" in page.locator("table.generations tbody tr").inner_text()
    assert page.locator("nav a[aria-current=page]").inner_text() == "Generate"
    assert not page.locator("#generate-form button[type=submit]").is_disabled()
    page.screenshot(path=str(ARTIFACTS / "generate-done.png"), full_page=True)


def test_ctrl_enter_submits_and_a_failure_shows_its_reason(generations_table, page, settings):
    with ScriptedAws(aws_error(400, "ValidationError", "Endpoint gpt2-demo of account 1 not found.")) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS = 1
        page.fill("textarea[name=prompt]", "Hello")
        page.press("textarea[name=prompt]", "Control+Enter")
        page.wait_for_selector("#generate-result .banner.error")

    assert "Not generated: Endpoint 'gpt2-demo' is not available" in page.inner_text("#generate-result")
    assert "failed" in page.locator("table.generations tbody tr").inner_text()
    page.screenshot(path=str(ARTIFACTS / "generate-failed.png"), full_page=True)
