"""The Generate page in a real Chromium: the busy state, a continuation from a real local gpt2-demo, and
every endpoint failure shown in the result panel with its reason."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.dashboard.endpoints.conftest import wait_for
from tests.dashboard.sagemaker_fakes import Reply, ScriptedAws, aws_error


@pytest.fixture
def generate_page(user_page, generations_table):
    user_page.goto("/generate/")
    yield user_page
    assert user_page.js_errors == []


@pytest.fixture
def on_aws(settings):
    """SageMaker's runtime is a scripted server answering as SageMaker would."""
    settings.SAGEMAKER_BACKEND = "aws"
    settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS = 1

    def serve(*replies: Reply) -> ScriptedAws:
        server = ScriptedAws(*replies).__enter__()
        started.append(server)
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = server.url
        return server

    started: list[ScriptedAws] = []
    yield serve
    for server in started:
        server.__exit__(None, None, None)


def _submit(page, prompt: str, tokens: str = "20") -> None:
    page.fill("textarea[name=prompt]", prompt)
    page.fill("input[name=max_new_tokens]", tokens)
    page.click("#generate-form button[type=submit]")


def test_a_prompt_becomes_generated_text_with_a_busy_state_meanwhile(generate_page, on_aws, screenshot):
    page = generate_page
    on_aws(Reply(body=[{"generated_text": " there lived a model that finished every sentence it was given."}]))
    page.fill("textarea[name=prompt]", "Once upon a time")
    # Hold the navigation so the in-flight state can be seen; our handler has run by then.
    page.evaluate("document.getElementById('generate-form').addEventListener('submit', e => e.preventDefault())")
    page.click("#generate-form button[type=submit]")
    button = page.locator("#generate-form button[type=submit]")
    expect(button).to_be_disabled()
    expect(button).to_have_text("Generating…")
    expect(page.locator(".generate-busy")).to_be_visible()
    page.evaluate("document.getElementById('generate-form').submit()")
    page.wait_for_selector("pre.generated .continuation")

    assert page.locator("pre.generated .prompt").inner_text() == "Once upon a time"
    assert "finished every sentence" in page.locator("pre.generated .continuation").inner_text()
    assert "done" in page.locator("table.generations tbody tr").inner_text()
    assert not page.locator("#generate-form button[type=submit]").is_disabled()
    screenshot(page, "done")


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (aws_error(400, "ValidationError", "Endpoint gpt2-demo of account 1 not found."), "is not available"),
        (aws_error(429, "ModelNotReadyException", "Model is loading"), "is not ready to serve yet"),
        (aws_error(400, "ThrottlingException", "Rate exceeded"), "is throttling requests"),
        (Reply(body=[{"generated_text": "late"}], delay=2.0), "did not answer within 0.5 s"),
        (
            aws_error(424, "ModelError", "error", OriginalStatusCode=500, OriginalMessage="CUDA out of memory"),
            "failed: CUDA out of memory",
        ),
    ],
    ids=["missing", "not-in-service", "throttled", "timed-out", "model-error"],
)
def test_every_endpoint_failure_is_shown_in_the_result_panel(generate_page, on_aws, settings, reply, shown):
    settings.SAGEMAKER_INVOKE_TIMEOUT = 0.5
    on_aws(reply)
    _submit(generate_page, "Hello")
    banner = generate_page.locator("#generate-result .banner.error")
    expect(banner).to_contain_text("Not generated:")
    expect(banner).to_contain_text(shown)
    assert "failed" in generate_page.locator("table.generations tbody tr").inner_text()


def test_ctrl_enter_starts_a_scaled_to_zero_local_endpoint_and_try_again_then_shows_the_continuation(
    generate_page, local_endpoints, settings, screenshot
):
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    generate_page.fill("textarea[name=prompt]", "Hello")
    generate_page.press("textarea[name=prompt]", "Control+Enter")
    starting = generate_page.locator("#generate-result [role=status]")
    expect(starting).to_contain_text(f"Starting the endpoint {name}, about")
    screenshot(generate_page, "starting")
    assert wait_for(local_endpoints, name, {"InService", "Failed"}).state == "InService"
    generate_page.get_by_role("button", name="Try again").click()
    generate_page.wait_for_selector("pre.generated .continuation", timeout=60_000)
    assert generate_page.locator("pre.generated .prompt").inner_text() == "Hello"
    screenshot(generate_page, "started")


def test_a_local_gpt2_demo_continues_the_prompt(generate_page, local_endpoints, settings, screenshot):
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    local_endpoints.scale_up(name)
    assert wait_for(local_endpoints, name, {"InService", "Failed"}).state == "InService"
    _submit(generate_page, "I love this movie because", tokens="12")
    generate_page.wait_for_selector("pre.generated .continuation", timeout=60_000)
    assert generate_page.locator("pre.generated .prompt").inner_text() == "I love this movie because"
    assert generate_page.locator("pre.generated .continuation").inner_text().strip()
    assert name in generate_page.inner_text("#generate-result")
    screenshot(generate_page, "local")
