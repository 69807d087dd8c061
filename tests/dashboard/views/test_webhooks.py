"""The webhooks pages: register (secret shown once), delete, the delivery log, redeliver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import AuditEvent
from dashboard.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks/console"
PAGE = "/webhooks/"


def _webhook(user, url: str = PUBLIC, **fields) -> Webhook:
    return Webhook.objects.create(user=user, url=url, events=["item.done"], secret="whsec_stored", **fields)


def _delivery(webhook: Webhook, snippet: str = "ok") -> WebhookDelivery:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    event = WebhookEvent.objects.create(id="evt_1", type="item.done", key="k", body="{}", created_at=at)
    delivery = WebhookDelivery.objects.create(
        event=event, webhook=webhook, user=webhook.user, url=webhook.url, created_at=at, state="failed", attempts=1
    )
    WebhookAttempt.objects.create(
        delivery=delivery, created_at=at, outcome="failed", status_code=500, latency_ms=42, response_snippet=snippet
    )
    return delivery


def test_registering_shows_the_secret_once(user_client, user):
    response = user_client.post(PAGE, {"url": PUBLIC, "events": ["item.done", "batch.failed"]})

    assert response.status_code == 200
    webhook = Webhook.objects.get()
    assert (webhook.user, webhook.events) == (user, ["item.done", "batch.failed"])
    assert webhook.secret in response.content.decode()
    assert webhook.secret not in user_client.get(PAGE).content.decode()
    assert AuditEvent.objects.filter(action="webhook_create").exists()


def test_a_private_url_is_refused_on_the_page(user_client, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = user_client.post(PAGE, {"url": "http://169.254.169.254/", "events": ["item.done"]})

    assert response.status_code == 400
    assert "cloud metadata address" in response.content.decode()
    assert not Webhook.objects.exists()


def test_no_events_is_refused_on_the_page(user_client):
    response = user_client.post(PAGE, {"url": PUBLIC})

    assert response.status_code == 400 and not Webhook.objects.exists()


def test_users_see_only_their_own_webhooks_and_staff_see_all(client, user, staff, django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="pw-pw-pw-pw")
    _webhook(user, url="https://93.184.215.14/alice")
    theirs = _webhook(bob, url="https://93.184.215.14/bob")

    client.force_login(user)
    page = client.get(PAGE).content.decode()
    assert "/alice" in page and "/bob" not in page
    assert client.get(reverse("dashboard:webhook_detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("dashboard:webhook_delete", args=[theirs.pk])).status_code == 404

    client.force_login(staff)
    page = client.get(PAGE).content.decode()
    assert "/alice" in page and "/bob" in page


def test_the_delivery_log_shows_each_attempt_escaped(user_client, user):
    webhook = _webhook(user)
    _delivery(webhook, snippet="<script>alert(1)</script>")

    page = user_client.get(reverse("dashboard:webhook_detail", args=[webhook.pk])).content.decode()

    assert "evt_1" in page and "500" in page and "42 ms" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_a_disabled_webhook_shows_why_and_can_be_enabled_again(user_client, user):
    webhook = _webhook(user, disabled_at=datetime(2026, 12, 1, tzinfo=UTC), disabled_reason="Every delivery failed.")

    page = user_client.get(reverse("dashboard:webhook_detail", args=[webhook.pk])).content.decode()
    assert "Every delivery failed." in page

    user_client.post(reverse("dashboard:webhook_enable", args=[webhook.pk]))
    webhook.refresh_from_db()
    assert webhook.active and webhook.disabled_reason == ""


def test_redeliver_queues_the_same_event_again(user_client, user, redis_conn):
    from dashboard.webhooks.queue import DELIVERY_SEND_JOB, webhooks_queue

    webhook = _webhook(user)
    delivery = _delivery(webhook)

    response = user_client.post(reverse("dashboard:webhook_redeliver", args=[webhook.pk, delivery.pk]))

    assert response.status_code == 302
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert again.event_id == "evt_1" and again.state == "pending"
    [job] = webhooks_queue().get_jobs()
    assert job.func_name == DELIVERY_SEND_JOB and job.args == [again.pk, 0]


def test_delete_removes_the_webhook(user_client, user):
    webhook = _webhook(user)

    response = user_client.post(reverse("dashboard:webhook_delete", args=[webhook.pk]))

    assert response.status_code == 302 and not Webhook.objects.exists()


def test_the_forms_need_their_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    webhook = _webhook(user)

    assert client.post(PAGE, {"url": PUBLIC, "events": ["item.done"]}).status_code == 403
    assert client.post(reverse("dashboard:webhook_delete", args=[webhook.pk])).status_code == 403


def test_the_pages_need_a_login(client):
    assert client.get(PAGE).status_code == 302


def test_the_page_says_when_a_user_has_as_many_webhooks_as_one_may(user_client, user):
    from dashboard.webhooks.services import WEBHOOKS_PER_USER

    for n in range(WEBHOOKS_PER_USER):
        _webhook(user, url=f"{PUBLIC}/{n}")

    response = user_client.post(PAGE, {"url": PUBLIC, "events": ["item.done"]})

    assert response.status_code == 400 and "delete one first" in response.content.decode()
