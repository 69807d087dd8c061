"""Reads for webhooks. A user sees their own webhooks; staff see everyone's."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from dashboard.webhooks.models import Webhook, WebhookDelivery

DELIVERIES_SHOWN = 50


def webhooks_visible(*, user: User) -> QuerySet[Webhook]:
    webhooks = Webhook.objects.select_related("user")
    return webhooks if user.is_staff else webhooks.filter(user=user)


def webhook_get(*, user: User, webhook_id: str) -> Webhook | None:
    """The webhook, if `user` may see it; None for a missing one and for another user's alike."""
    return webhooks_visible(user=user).filter(pk=webhook_id).first()


def webhook_deliveries(*, webhook: Webhook, limit: int = DELIVERIES_SHOWN) -> list[WebhookDelivery]:
    """The newest deliveries, each with its attempts (newest first) in `attempts_made`."""
    deliveries = list(
        WebhookDelivery.objects.filter(webhook=webhook).select_related("event").prefetch_related("attempt_log")[:limit]
    )
    for delivery in deliveries:
        delivery.attempts_made = list(delivery.attempt_log.all())  # type: ignore[attr-defined]
    return deliveries


def delivery_get(*, webhook: Webhook, delivery_id: str) -> WebhookDelivery | None:
    """One of the webhook's deliveries by its id (digits, as in a URL); None for anything else."""
    if not delivery_id.isascii() or not delivery_id.isdigit() or len(delivery_id) > 18:
        return None
    deliveries = WebhookDelivery.objects.select_related("event", "webhook")
    return deliveries.filter(webhook=webhook, pk=int(delivery_id)).first()


def webhook_public(webhook: Webhook) -> dict[str, Any]:
    """What the API returns for a webhook: never its secret."""
    return {
        "id": webhook.pk,
        "url": webhook.url,
        "events": webhook.events,
        "active": webhook.active,
        "created_at": webhook.created_at.isoformat(),
        "disabled_at": webhook.disabled_at.isoformat() if webhook.disabled_at else None,
        "disabled_reason": webhook.disabled_reason or None,
        "owner": webhook.user.get_username(),
    }


def delivery_public(delivery: WebhookDelivery) -> dict[str, Any]:
    attempts = getattr(delivery, "attempts_made", None)
    if attempts is None:
        attempts = list(delivery.attempt_log.all())
    return {
        "id": delivery.pk,
        "event_id": delivery.event_id,
        "event_type": delivery.event.type,
        "state": delivery.state,
        "created_at": delivery.created_at.isoformat(),
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        "attempts": [
            {
                "at": attempt.created_at.isoformat(),
                "outcome": attempt.outcome,
                "status_code": attempt.status_code,
                "latency_ms": attempt.latency_ms,
                "response_snippet": attempt.response_snippet,
                "error": attempt.error or None,
            }
            for attempt in attempts
        ],
    }
