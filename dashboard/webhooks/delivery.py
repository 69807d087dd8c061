"""One delivery attempt, its retries, and the disabling of a webhook that keeps failing.

Each attempt sends the event's stored body, byte for byte, with a fresh signature: the same event
id on every retry, so a receiver can drop what it has already seen. A failed attempt is retried
after WEBHOOK_RETRY_BASE_S × 2^(n-1) (at most WEBHOOK_RETRY_MAX_S), of which a random half is
jitter, until WEBHOOK_RETRY_WINDOW_S after the delivery was made. A refused address is not retried.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from dashboard.exceptions import WebhookHostUnresolved, WebhookUrlRefused
from dashboard.webhooks import signing, transport
from dashboard.webhooks.metrics import delivery_counted
from dashboard.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from dashboard.webhooks.queue import delivery_send_enqueue

log = logging.getLogger(__name__)

USER_AGENT = "classifier-console-webhooks/1"


def retry_delay(*, attempts: int) -> float:
    """Seconds before the next attempt, after `attempts` failed ones: exponential, with jitter."""
    ceiling = min(settings.WEBHOOK_RETRY_MAX_S, settings.WEBHOOK_RETRY_BASE_S * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def delivery_attempt(*, delivery_id: int, attempt: int) -> str:
    """Make attempt number `attempt` (0-based) of a pending delivery. Returns the outcome counted.

    A job for an attempt already made (a duplicate, or a redelivery's) does nothing: "skipped".
    """
    delivery = WebhookDelivery.objects.select_related("event", "webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != "pending" or delivery.attempts != attempt:
        return "skipped"
    webhook = delivery.webhook
    now = timezone.now()
    if webhook is not None and not webhook.active:
        _finish(delivery, state="failed", now=now)
        delivery_counted(outcome="failed")
        return "failed"
    record = WebhookAttempt(delivery=delivery, created_at=now, outcome="failed")
    retry = True
    try:
        target = transport.url_vet(delivery.url)
        answer = transport.post(
            target,
            body=delivery.event.body.encode(),
            headers=_headers(delivery, now),
            timeout=settings.WEBHOOK_TIMEOUT_S,
        )
    except WebhookHostUnresolved as error:
        record.error = str(error)[:500]
    except WebhookUrlRefused as error:
        record.outcome, record.error, retry = "refused", str(error)[:500], False
    except transport.TransportError as error:
        record.error = str(error)
    else:
        record.status_code, record.latency_ms, record.response_snippet = (
            answer.status,
            answer.latency_ms,
            answer.snippet,
        )
        if 200 <= answer.status < 300:
            record.outcome = "delivered"
        elif 300 <= answer.status < 400:
            record.error = f"Redirects are not followed (to {answer.location or 'no Location'})."[:500]
        else:
            record.error = f"The receiver answered HTTP {answer.status}."
    record.save()
    delivery.attempts += 1
    return _after(delivery, record, retry=retry, now=now)


def _headers(delivery: WebhookDelivery, now: datetime) -> dict[str, str]:
    secret = (
        delivery.webhook.secret
        if delivery.webhook is not None
        else signing.callback_secret(subject=delivery.callback_subject)
    )
    body = delivery.event.body.encode()
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_HEADER: delivery.event_id,
        signing.SIGNATURE_HEADER: signing.signature_header(secret=secret, timestamp=int(now.timestamp()), body=body),
    }


def _after(delivery: WebhookDelivery, record: WebhookAttempt, *, retry: bool, now: datetime) -> str:
    """Record what the attempt means: delivered, retried later, or given up."""
    webhook = delivery.webhook
    if record.outcome == "delivered":
        _finish(delivery, state="delivered", now=now)
        if webhook is not None and webhook.failing_since is not None:
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=None)
        delivery_counted(outcome="delivered")
        return "delivered"
    disabled = webhook is not None and _failure_noted(webhook, record, now=now)
    delay = retry_delay(attempts=delivery.attempts)
    deadline = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S)
    if not retry or disabled or now + timedelta(seconds=delay) > deadline:
        _finish(delivery, state="failed", now=now)
        outcome = "refused" if record.outcome == "refused" else "failed"
        delivery_counted(outcome=outcome)
        return outcome
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "next_attempt_at"])
    delivery_send_enqueue(delivery_id=delivery.pk, attempt=delivery.attempts, delay_s=delay)
    delivery_counted(outcome="retrying")
    return "retrying"


def _finish(delivery: WebhookDelivery, *, state: str, now: datetime) -> None:
    delivery.state, delivery.finished_at, delivery.next_attempt_at = state, now, None
    delivery.save(update_fields=["state", "attempts", "finished_at", "next_attempt_at"])


def _failure_noted(webhook: Webhook, record: WebhookAttempt, *, now: datetime) -> bool:
    """Note a failed attempt on its webhook; disable it once it has failed for WEBHOOK_DISABLE_AFTER_S.

    Returns whether the webhook is now disabled.
    """
    if webhook.failing_since is None:
        Webhook.objects.filter(pk=webhook.pk, failing_since__isnull=True).update(failing_since=now)
        webhook.failing_since = now
        return False
    if now - webhook.failing_since < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_S):
        return False
    hours = settings.WEBHOOK_DISABLE_AFTER_S / 3600
    reason = (
        f"Disabled {now:%Y-%m-%d %H:%M} UTC: every delivery failed for {hours:g} h "
        f"(since {webhook.failing_since:%Y-%m-%d %H:%M} UTC). Last error: {record.error or 'none'}"
    )[:500]
    Webhook.objects.filter(pk=webhook.pk, disabled_at__isnull=True).update(disabled_at=now, disabled_reason=reason)
    log.warning("webhook %s disabled: %s", webhook.pk, reason)
    return True


# A pending delivery whose attempt is this overdue lost its job: the enqueue failed (Redis away), or
# Redis lost its scheduled retries. The webhooks worker queues it again (`deliveries_resume`).
OVERDUE_S = 600


def deliveries_resume(*, now: datetime | None = None) -> int:
    """Queue again the pending deliveries whose attempt is overdue. Returns how many.

    An attempt's job that runs twice still sends once: the second finds the attempt made.
    """
    now = now or timezone.now()
    overdue = WebhookDelivery.objects.filter(state="pending", next_attempt_at__lt=now - timedelta(seconds=OVERDUE_S))
    resumed = 0
    for delivery_id, attempts in overdue.values_list("pk", "attempts")[:1000]:
        # Moved on first, so a delivery is resumed once per OVERDUE_S at most.
        if WebhookDelivery.objects.filter(pk=delivery_id, state="pending").update(next_attempt_at=now):
            delivery_send_enqueue(delivery_id=delivery_id, attempt=attempts)
            resumed += 1
    if resumed:
        log.warning("re-queued %d overdue webhook deliveries", resumed)
    return resumed
