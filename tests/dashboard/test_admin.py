from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard import services
from dashboard.models import ApiToken, AuditEvent, Batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="correct horse battery")
    client.force_login(admin)
    return client


def test_a_token_cannot_be_added_empty_through_the_admin(superuser_client):
    assert superuser_client.get(reverse("admin:dashboard_apitoken_add")).status_code == 403
    listing = superuser_client.get(reverse("admin:dashboard_apitoken_changelist")).content.decode()
    assert reverse("admin:dashboard_apitoken_add") not in listing


def test_revoking_selected_tokens_is_audited_and_they_stop_working(superuser_client, user):
    _, kept_raw = services.api_token_create(user=user, name="kept")
    revoked, revoked_raw = services.api_token_create(user=user, name="revoked")
    response = superuser_client.post(
        reverse("admin:dashboard_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [revoked.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    assert services.api_token_authenticate(raw=revoked_raw) is None
    assert services.api_token_authenticate(raw=kept_raw) == user
    event = AuditEvent.objects.get(action="token_revoke")
    assert (event.actor_name, event.target, event.outcome) == ("root", revoked.prefix, "ok")
    assert "admin" in event.detail


def test_a_tokens_hash_and_revocation_cannot_be_edited_by_hand(superuser_client, user):
    token, _ = services.api_token_create(user=user, name="before")
    url = reverse("admin:dashboard_apitoken_change", args=[token.pk])
    superuser_client.post(url, {"name": "after", "revoked_at_0": "2026-01-01", "revoked_at_1": "00:00:00"})
    token.refresh_from_db()
    assert token.name == "after" and token.revoked_at is None
    assert superuser_client.get(reverse("admin:dashboard_apitoken_delete", args=[token.pk])).status_code == 403


@pytest.mark.parametrize("model", ["batch", "auditevent"])
def test_batches_and_audit_events_are_read_only(superuser_client, user, model):
    batch = Batch.objects.create(id="b-admin", created_by=user, source="paste", total=3)
    services.api_token_create(user=user)  # one audit event
    pk = batch.pk if model == "batch" else AuditEvent.objects.get().pk
    listing = superuser_client.get(reverse(f"admin:dashboard_{model}_changelist"))
    assert listing.status_code == 200 and reverse(f"admin:dashboard_{model}_add") not in listing.content.decode()
    assert superuser_client.get(reverse(f"admin:dashboard_{model}_add")).status_code == 403
    change = superuser_client.get(reverse(f"admin:dashboard_{model}_change", args=[pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert superuser_client.post(reverse(f"admin:dashboard_{model}_change", args=[pk]), {}).status_code == 403
    assert superuser_client.get(reverse(f"admin:dashboard_{model}_delete", args=[pk])).status_code == 403
    assert Batch.objects.filter(pk="b-admin").exists()


def test_the_audit_list_filters_by_kind(superuser_client, user):
    services.api_token_create(user=user)
    url = reverse("admin:dashboard_auditevent_changelist")
    assert superuser_client.get(url, {"kind__exact": "token"}).context["cl"].result_count == 1
    assert superuser_client.get(url, {"kind__exact": "power"}).context["cl"].result_count == 0
    assert superuser_client.get(url, {"q": "alice"}).context["cl"].result_count == 1
    assert ApiToken.objects.count() == 1
