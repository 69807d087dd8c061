"""The audit trail: one writer for every kind of change, and the staff page that filters it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard import audit
from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_it_records_who_what_how_many_and_the_outcome(user):
    event = audit.audit_record(kind="data", actor=user, action="delete", target="selection", outcome="ok", count=12)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.kind, stored.actor_name, stored.action, stored.count, stored.outcome) == (
        "data",
        "alice",
        "delete",
        12,
        "ok",
    )
    assert stored.created_at is not None


def test_a_system_action_has_no_user():
    event = audit.audit_record(
        kind="power", action="stop", target="i-1", outcome="ok", actor_name="system (power_tick)"
    )
    assert event.actor is None and event.actor_name == "system (power_tick)"


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        audit.audit_record(kind="nope", action="x", target="y", outcome="ok")


def test_the_audit_page_filters_by_kind_and_user(client, staff, user):
    audit.audit_record(kind="data", actor=user, action="rerun", target="selection", outcome="ok", count=3)
    audit.audit_record(kind="token", actor=staff, action="token_create", target="abc123", outcome="ok")
    audit.audit_record(kind="power", action="start", target="i-9", outcome="ok", actor_name="system (submission)")
    client.force_login(staff)
    everything = client.get(reverse("dashboard:audit_log")).content.decode()
    assert "rerun" in everything and "token_create" in everything and "i-9" in everything
    data_only = client.get(reverse("dashboard:audit_log"), {"kind": "data"}).content.decode()
    assert "rerun" in data_only and "token_create" not in data_only and "i-9" not in data_only
    by_sam = client.get(reverse("dashboard:audit_log"), {"user": "sam"}).content.decode()
    assert "token_create" in by_sam and "rerun" not in by_sam
    unknown_kind = client.get(reverse("dashboard:audit_log"), {"kind": "<script>"})
    assert unknown_kind.status_code == 200 and "rerun" in unknown_kind.content.decode()


def test_the_audit_page_is_for_staff_only(user_client):
    assert user_client.get(reverse("dashboard:audit_log")).status_code == 403
