"""Changes to access and to data leave one audit event each: API tokens made and revoked, results deleted."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db


def _only_event() -> AuditEvent:
    (event,) = AuditEvent.objects.all()
    return event


def test_creating_a_token_is_audited_for_its_user(user):
    token, _ = services.api_token_create(user=user, name="ci")

    event = _only_event()
    assert (event.kind, event.action, event.target, event.actor, event.outcome, event.count) == (
        "token",
        "token_create",
        token.prefix,
        user,
        "ok",
        1,
    )
    assert "for alice" in event.detail and "'ci'" in event.detail


def test_a_token_made_by_someone_else_names_who_made_it(user, staff):
    services.api_token_create(user=user, actor=staff)

    event = _only_event()
    assert event.actor == staff and "for alice" in event.detail


def test_the_commands_audit_creating_and_revoking_a_token(user, capsys):
    call_command("create_api_token", "alice", "--name", "laptop")
    raw = capsys.readouterr().out.strip()
    created = _only_event()
    assert (created.action, created.actor_name) == ("token_create", "alice")
    assert "manage.py create_api_token" in created.detail

    call_command("revoke_api_token", raw[:12])

    revoked = AuditEvent.objects.exclude(pk=created.pk).get()
    assert (revoked.kind, revoked.action, revoked.target, revoked.actor_name, revoked.outcome, revoked.count) == (
        "token",
        "token_revoke",
        raw[:12],
        "alice",
        "ok",
        1,
    )
    assert "manage.py revoke_api_token" in revoked.detail


def test_revoking_an_unknown_prefix_is_audited_as_an_error():
    with pytest.raises(CommandError):
        call_command("revoke_api_token", "xlc_nothing1")

    event = _only_event()
    assert (event.action, event.outcome, event.count, event.actor_name) == ("token_revoke", "error", 0, "system")
    assert "no active token" in event.detail


def _put(*ids: str) -> None:
    for item_id in ids:
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=item_id))


def test_a_delete_from_the_explorer_is_audited_with_how_many(client, staff, results_table):
    _put("d-1", "d-2", "d-3")
    client.force_login(staff)

    client.post(reverse("dashboard:results_actions"), {"action": "delete", "ids": ["d-1", "d-3"], "confirm": "yes"})

    event = _only_event()
    assert (event.kind, event.action, event.actor, event.count, event.outcome) == ("data", "delete", staff, 2, "ok")
    assert "d-1" in event.detail and "d-3" in event.detail


def test_asking_to_confirm_a_delete_is_not_audited(client, staff, results_table):
    _put("d-1")
    client.force_login(staff)

    client.post(reverse("dashboard:results_actions"), {"action": "delete", "ids": ["d-1"]})

    assert not AuditEvent.objects.exists()


def test_a_delete_refused_to_a_non_staff_user_is_audited_as_refused(user_client, user, results_table):
    _put("d-1")

    user_client.post(reverse("dashboard:results_actions"), {"action": "delete", "ids": ["d-1"], "confirm": "yes"})

    event = _only_event()
    assert (event.action, event.actor, event.outcome, event.count) == ("delete", user, "refused", 1)
    assert dynamodb.item_get(item_id="d-1")


def test_a_delete_that_cannot_reach_the_store_is_audited_as_an_error(client, staff, settings):
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    client.force_login(staff)

    response = client.post(reverse("dashboard:results_actions"), {"action": "delete", "ids": ["d-1"], "confirm": "yes"})

    assert response.status_code == 302
    event = _only_event()
    assert (event.action, event.outcome, event.count) == ("delete", "error", 1)
