"""Webhooks, the events they are sent, and each delivery's attempts. Registered by `dashboard.models`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

EVENT_TYPES = ("item.done", "item.failed", "batch.complete", "batch.failed")


def _webhook_id() -> str:
    return uuid.uuid4().hex


class Webhook(models.Model):
    """A user's subscription: events of their items and batches are POSTed, signed, to `url`.

    The secret is kept as given (HMAC needs it to sign) and shown to the user once, at creation.
    """

    id = models.CharField(max_length=32, primary_key=True, default=_webhook_id)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the current run of failed deliveries began; cleared by a delivery that succeeds.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        app_label = "dashboard"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"webhook {self.id} → {self.url}"

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class WebhookEvent(models.Model):
    """One event, made once: `key` names what happened (an item's finish, a batch's end), so a job
    run twice makes no second event. `body` is the exact JSON sent on every attempt."""

    id = models.CharField(max_length=40, primary_key=True)
    type = models.CharField(max_length=32)
    key = models.CharField(max_length=300, unique=True)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        app_label = "dashboard"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """One event on its way to one URL: a webhook's, or the `callback_url` of a submission or batch."""

    STATES = [("pending", "pending"), ("delivered", "delivered"), ("failed", "failed")]

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    # The submission's or batch's user for a callback (a webhook has its own).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+")
    url = models.URLField(max_length=2000)
    # A callback's signing key is derived, never stored (dashboard.webhooks.signing.callback_secret).
    callback_subject = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=STATES, default="pending", db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dashboard"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.url} ({self.state})"


class WebhookAttempt(models.Model):
    """One POST: its HTTP status (none when it never got an answer), latency and a short snippet."""

    OUTCOMES = [("delivered", "delivered"), ("failed", "failed"), ("refused", "refused")]

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    created_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_snippet = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        app_label = "dashboard"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.delivery_id} {self.outcome} {self.status_code or ''}"
