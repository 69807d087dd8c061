"""API tokens on the settings page in a real browser: made from the header's link, shown once, revoked."""

from __future__ import annotations

import pytest
from django.test import Client

from dashboard.models import ApiToken
from dashboard.services import api_token_create

pytestmark = pytest.mark.browser


def _api_status(raw: str) -> int:
    return Client().get("/api/v1/submissions/nothing-here", headers={"Authorization": f"Bearer {raw}"}).status_code


def test_a_user_makes_a_token_sees_it_once_and_revokes_it(user_page, results_table, screenshot):
    page = user_page
    page.goto("/")
    page.get_by_role("link", name="API tokens").click()
    page.wait_for_url("**/settings/tokens/")
    assert page.get_by_role("link", name="API tokens").get_attribute("aria-current") == "page"

    page.get_by_label("Name").fill("build server")
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create token").click()

    raw = page.get_by_label("Your new token").input_value()
    assert raw.startswith("xlc_")
    row = page.locator(f'tr[data-token="{raw[:12]}"]')
    assert row.get_attribute("data-state") == "active"
    assert "build server" in row.inner_text() and "never" in row.inner_text()  # not used yet
    screenshot(page, "created")
    assert _api_status(raw) == 404  # accepted: the id is unknown

    page.goto("/settings/tokens/")  # shown once: a later visit lists the token without it
    assert page.get_by_label("Your new token").count() == 0

    page.locator(f'tr[data-token="{raw[:12]}"]').get_by_role("link", name=f"Revoke {raw[:12]}").click()
    page.wait_for_url("**/revoke/")
    assert _api_status(raw) == 404, "nothing happens before the confirmation"
    screenshot(page, "confirm")
    page.get_by_role("button", name="Revoke it").click()
    page.wait_for_url("**/settings/tokens/")

    assert page.locator(f'tr[data-token="{raw[:12]}"]').get_attribute("data-state") == "revoked"
    assert _api_status(raw) == 401
    assert ApiToken.objects.get().revoked_at is not None
    screenshot(page, "revoked")
    assert page.js_errors == []


def test_staff_see_everyones_tokens_with_the_owner(staff_page, django_user_model, screenshot):
    owner = django_user_model.objects.create_user(username="carol")
    api_token_create(user=owner, name="carol's laptop")
    api_token_create(user=staff_page.user, name="staff ci")
    page = staff_page

    page.goto("/settings/tokens/")

    headers = page.locator("table.tokens thead th").all_inner_texts()
    assert "owner" in headers
    owners = page.locator("table.tokens tbody tr td:nth-child(3)").all_inner_texts()
    assert sorted(owners) == ["browser-staff", "carol"]
    screenshot(page, "staff")
