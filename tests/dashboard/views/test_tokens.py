"""The API tokens settings page: list, create (shown once, with an expiry), revoke after confirming."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from dashboard.aws import dynamodb
from dashboard.models import ApiToken, AuditEvent
from dashboard.services import api_token_create

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:token_list")
MOMENT = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # the year turns within the first hour


def _revoke_url(token: ApiToken) -> str:
    return reverse("dashboard:token_revoke", args=[token.pk])


def _api_status(raw: str) -> int:
    """What the API answers a request with this token (an unknown id: 404 once the token is accepted)."""
    return Client().get("/api/v1/submissions/nothing-here", headers={"Authorization": f"Bearer {raw}"}).status_code


def _shown_token(response) -> str:
    [raw] = re.findall(r'value="(xlc_[^"]+)"', response.content.decode())
    return raw


def test_the_page_needs_a_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_header_links_to_the_page(user_client):
    assert f'href="{LIST}"' in user_client.get(reverse("dashboard:home")).content.decode()


def test_a_user_sees_their_tokens_and_not_anyone_elses(user_client, user, staff):
    api_token_create(user=user, name="laptop")
    api_token_create(user=staff, name="staff-ci")

    page = user_client.get(LIST).content.decode()

    assert "laptop" in page and "staff-ci" not in page
    assert "<th>owner</th>" not in page


def test_staff_see_everyones_tokens_with_their_owner(client, user, staff):
    api_token_create(user=user, name="laptop")
    client.force_login(staff)

    page = client.get(LIST).content.decode()

    assert "<th>owner</th>" in page and "laptop" in page and "<td>alice</td>" in page


def test_a_token_created_on_the_page_is_shown_once_and_works_on_the_api(user_client, user, results_table):
    response = user_client.post(LIST, {"name": "  build server ", "expires_in": "never"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = _shown_token(response)
    token = ApiToken.objects.get(user=user)
    assert (token.name, token.prefix, token.expires_at) == ("build server", raw[:12], None)
    assert raw not in user_client.get(LIST).content.decode()  # shown that once, never again
    assert _api_status(raw) == 404


def test_a_token_made_with_an_expiry_stops_working_then(client, user, results_table):
    with time_machine.travel(MOMENT, tick=False):
        client.force_login(user)
        raw = _shown_token(client.post(LIST, {"name": "a week", "expires_in": "7"}))
        assert ApiToken.objects.get().expires_at == MOMENT + timedelta(days=7)
        assert _api_status(raw) == 404
    with time_machine.travel(MOMENT + timedelta(days=7, seconds=-1), tick=False):
        assert _api_status(raw) == 404
    with time_machine.travel(MOMENT + timedelta(days=7), tick=False):
        assert _api_status(raw) == 401
        page = client.get(LIST).content.decode()
    assert 'data-state="expired"' in page and "2027-01-07 23:30" in page


def test_an_expired_token_is_refused_with_a_401(user, results_table):
    _, raw = api_token_create(user=user, expires_at=MOMENT)
    with time_machine.travel(MOMENT - timedelta(minutes=1), tick=False):
        assert _api_status(raw) == 404
    with time_machine.travel(MOMENT + timedelta(days=400), tick=False):
        response = Client().get("/api/v1/submissions/x", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]


@pytest.mark.parametrize("expires_in", ["0", "-7", "forever", "3650"])
def test_an_unknown_expiry_is_a_400_and_makes_no_token(user_client, expires_in):
    response = user_client.post(LIST, {"name": "x", "expires_in": expires_in})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_too_long_name_is_a_400_and_makes_no_token(user_client):
    response = user_client.post(LIST, {"name": "n" * 101, "expires_in": "30"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_creating_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(LIST, {"expires_in": "30"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_revoking_asks_first_then_the_api_refuses_the_token(user_client, user, results_table):
    token, raw = api_token_create(user=user, name="laptop")

    confirm = user_client.get(_revoke_url(token))
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert _api_status(raw) == 404  # asking changed nothing

    response = user_client.post(_revoke_url(token))

    assert response.status_code == 302 and response["Location"] == LIST
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _api_status(raw) == 401
    page = user_client.get(LIST).content.decode()
    assert "it is refused from now on" in page and 'data-state="revoked"' in page


def test_a_user_cannot_revoke_someone_elses_token(client, user, django_user_model):
    other = django_user_model.objects.create_user(username="bob")
    token, _ = api_token_create(user=other)
    client.force_login(user)

    assert client.get(_revoke_url(token)).status_code == 404
    assert client.post(_revoke_url(token)).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_staff_can_revoke_anyones_token(client, user, staff):
    token, _ = api_token_create(user=user)
    client.force_login(staff)

    assert "alice" in client.get(_revoke_url(token)).content.decode()
    assert client.post(_revoke_url(token)).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="token_revoke")
    assert (event.actor, event.target, event.outcome) == (staff, token.prefix, "ok")
    assert "for alice" in event.detail and "settings page" in event.detail


def test_a_revoked_or_unknown_token_cannot_be_revoked_again(user_client, user):
    token, _ = api_token_create(user=user)
    assert user_client.post(_revoke_url(token)).status_code == 302
    assert user_client.post(_revoke_url(token)).status_code == 404
    assert user_client.post(reverse("dashboard:token_revoke", args=[999999])).status_code == 404


def test_revoking_revokes_only_that_token_even_when_another_shares_its_prefix(user_client, user):
    token, _ = api_token_create(user=user, name="one")
    twin, _ = api_token_create(user=user, name="two")
    ApiToken.objects.filter(pk=twin.pk).update(prefix=token.prefix)

    user_client.post(_revoke_url(token))

    assert list(ApiToken.objects.filter(revoked_at__isnull=True)) == [twin]


def test_revoking_needs_the_csrf_token(user):
    token, _ = api_token_create(user=user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(_revoke_url(token)).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_creating_on_the_page_is_audited_with_the_page(user_client, user):
    user_client.post(LIST, {"name": "ci", "expires_in": "30"})

    event = AuditEvent.objects.get(action="token_create")
    assert (event.kind, event.actor, event.outcome) == ("token", user, "ok")
    assert "settings page" in event.detail and "expires" in event.detail


def test_other_methods_are_refused(user_client, user):
    token, _ = api_token_create(user=user)
    assert user_client.delete(LIST).status_code == 405
    assert user_client.put(_revoke_url(token)).status_code == 405


def test_the_command_line_can_make_a_token_that_expires(user, capsys):
    with time_machine.travel(MOMENT, tick=False):
        call_command("create_api_token", "alice", "--expires-days", "30")
    raw = capsys.readouterr().out.strip()
    assert ApiToken.objects.get().expires_at == MOMENT + timedelta(days=30)
    assert raw.startswith("xlc_")
    with pytest.raises(CommandError, match="1 or more"):
        call_command("create_api_token", "alice", "--expires-days", "0")


def test_the_api_still_answers_a_token_with_an_expiry_ahead(user, results_table):
    _, raw = api_token_create(user=user, expires_at=MOMENT + timedelta(hours=1))
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="mine", text="t"))
    with time_machine.travel(MOMENT, tick=False):
        response = Client().get("/api/v1/submissions/mine", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
