"""A staff member pauses and resumes a SageMaker endpoint from the fleet panel in a real Chromium (moto behind it)."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest

from tests.dashboard.power_support import aws_client, ec2_fleet, moto_reset, moto_url  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CONFIG = "gpt2-demo-20250101-000000"


@pytest.fixture
def endpoint(ec2_fleet, settings):
    sm = aws_client("sagemaker", ec2_fleet["url"])
    sm.create_model(
        ModelName=CONFIG, ExecutionRoleArn="arn:aws:iam::123456789012:role/sm", PrimaryContainer={"Image": "x:1"}
    )
    sm.create_endpoint_config(
        EndpointConfigName=CONFIG,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": CONFIG,
                "InstanceType": "ml.g4dn.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName="gpt2-demo", EndpointConfigName=CONFIG)
    settings.SAGEMAKER_BACKEND = "aws"
    settings.SAGEMAKER_ENDPOINT_URL = ec2_fleet["url"]
    settings.SAGEMAKER_ENDPOINTS = ["gpt2-demo"]
    settings.SAGEMAKER_HOURLY_PRICES = {"ml.g4dn.xlarge": 0.7364}
    return sm


def test_staff_pause_an_endpoint_after_confirming_then_resume_it(
    staff_page, live_server, results_table, endpoint, screenshot
):
    page = staff_page
    page.goto("/")
    row = page.locator('#power-panel tr[data-endpoint="gpt2-demo"]')
    row.wait_for()
    assert row.get_attribute("data-state") == "InService"
    assert "ml.g4dn.xlarge × 1" in row.inner_text()
    screenshot(page, "in-service")

    row.locator('a[data-endpoint-action="pause"]').click()
    page.wait_for_url("**/power/endpoints/gpt2-demo/pause/")
    assert endpoint.list_endpoints()["Endpoints"], "nothing happens before the confirmation"
    screenshot(page, "confirm-pause")
    page.click("button[name=confirm]")

    page.wait_for_url(f"{live_server.url}/")
    paused = page.locator('#power-panel tr[data-endpoint="gpt2-demo"][data-state="ScaledToZero"]')
    paused.wait_for()
    assert "paused by browser-staff" in paused.inner_text()
    assert endpoint.list_endpoints()["Endpoints"] == []
    screenshot(page, "paused")

    paused.locator('a[data-endpoint-action="resume"]').click()
    page.wait_for_url("**/power/endpoints/gpt2-demo/resume/")
    assert "It was paused by browser-staff" in page.inner_text("main")
    page.click("button[name=confirm]")
    page.wait_for_url(f"{live_server.url}/")
    page.locator('#power-panel tr[data-endpoint="gpt2-demo"][data-state="InService"]').wait_for()
    audit = page.locator("#power-panel table.audit").inner_text()
    assert "pause" in audit and "resume" in audit
    assert page.js_errors == []
