"""Writes for webhooks: register, delete, enable again, redeliver."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.utils import timezone

from dashboard import audit
from dashboard.exceptions import WebhookLimit, WebhookUrlRefused
from dashboard.webhooks import signing, transport
from dashboard.webhooks.models import EVENT_TYPES, Webhook, WebhookDelivery
from dashboard.webhooks.queue import delivery_send_enqueue


def webhook_url_clean(url: object) -> str:
    """A URL a webhook or callback may use, or WebhookUrlRefused (SSRF rules: dashboard.webhooks.transport)."""
    if not isinstance(url, str):
        raise WebhookUrlRefused("The URL must be a string.")
    transport.url_vet(url)
    return url.strip()


def webhook_events_clean(events: object) -> list[str]:
    """The event types asked for, in their documented order; ValueError names what is wrong."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValueError(f"Give a non-empty list of events from: {', '.join(EVENT_TYPES)}.")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"Unknown event(s): {', '.join(unknown)}. Known: {', '.join(EVENT_TYPES)}.")
    return [event for event in EVENT_TYPES if event in events]


# Each webhook costs a POST per event: a user with hundreds would multiply every item's cost.
WEBHOOKS_PER_USER = 20


def webhook_create(*, user: User, url: str, events: Iterable[str]) -> tuple[Webhook, str]:
    """Register a webhook (its URL and events already cleaned). Returns it and its secret, to show once.

    Raises WebhookLimit when the user has WEBHOOKS_PER_USER already.
    """
    if Webhook.objects.filter(user=user).count() >= WEBHOOKS_PER_USER:
        raise WebhookLimit(f"You have {WEBHOOKS_PER_USER} webhooks, the most one user may have; delete one first.")
    secret = signing.secret_new()
    webhook = Webhook.objects.create(user=user, url=url, events=list(events), secret=secret)
    _audit(user, "webhook_create", webhook, detail=f"{url} for {', '.join(webhook.events)}")
    return webhook, secret


def webhook_delete(*, webhook: Webhook, actor: User) -> None:
    _audit(actor, "webhook_delete", webhook, detail=webhook.url)
    webhook.delete()


def webhook_enable(*, webhook: Webhook, actor: User) -> None:
    """Take a disabled webhook back into use; its next failure starts a new day's count."""
    Webhook.objects.filter(pk=webhook.pk).update(disabled_at=None, disabled_reason="", failing_since=None)
    _audit(actor, "webhook_enable", webhook, detail=webhook.url)


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same event id and body.

    Raises WebhookUrlRefused for a disabled webhook: it is enabled first, on purpose.
    """
    if delivery.webhook is not None and not delivery.webhook.active:
        raise WebhookUrlRefused("This webhook is disabled; enable it before redelivering.")
    now = timezone.now()
    again = WebhookDelivery.objects.create(
        event=delivery.event,
        webhook=delivery.webhook,
        user=delivery.user,
        url=delivery.url,
        callback_subject=delivery.callback_subject,
        created_at=now,
        next_attempt_at=now,
    )
    delivery_send_enqueue(delivery_id=again.pk, attempt=0)
    return again


def _audit(actor: User, action: str, webhook: Webhook, *, detail: str) -> None:
    audit.audit_record(
        kind="data", actor=actor, action=action, target=f"webhook {webhook.pk}", outcome="ok", detail=detail
    )
