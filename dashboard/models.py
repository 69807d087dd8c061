"""Relational state of the console: users (Django's) and their API tokens.

Results live in DynamoDB, not here (see `dashboard/aws/dynamodb/`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once, at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from then on; never when empty.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


# --- Results explorer and bulk submission --------------------------------------------------


class UserPreference(models.Model):
    """A small per-user setting kept on the server, e.g. the explorer's visible columns."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    key = models.CharField(max_length=64)
    value = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="unique_user_preference")]

    def __str__(self) -> str:
        return f"{self.user}: {self.key}"


class Batch(models.Model):
    """One bulk submission. Its items live in DynamoDB and carry `batch_id`; progress is counted there.

    `counts` caches the status counts; once no item is queued or running, `completed_at` is set and
    the counts are final, so a finished batch is never read from DynamoDB again for its progress.
    """

    SOURCES = [("csv", "CSV upload"), ("paste", "pasted lines"), ("api", "API")]

    id = models.CharField(max_length=32, primary_key=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="batches"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=8, choices=SOURCES)
    filename = models.CharField(max_length=255, blank=True)
    total = models.PositiveIntegerField()
    counts = models.JSONField(default=dict)
    callback_url = models.URLField(max_length=2000, blank=True, help_text="Where the batch's end is POSTed.")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.total} items)"


# --- The audit trail: every change to data, capacity and access ----------------------------


class AuditEvent(models.Model):
    """Who did what to how many of which, when, and what came of it.

    Automatic actions (a submission's capacity check, the idle stop) are recorded too, with no user
    and an `actor_name` such as "system (power_tick)", so the log explains every change.
    """

    OUTCOMES = [("ok", "ok"), ("error", "error"), ("refused", "refused")]
    KINDS = [("power", "power"), ("data", "data"), ("token", "token"), ("auth", "auth"), ("model", "model")]

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=8, choices=KINDS, default="power", db_index=True)
    count = models.PositiveIntegerField(default=1, help_text="How many items or objects the action touched.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    actor_name = models.CharField(max_length=150, help_text="The username, or the system part that acted.")
    action = models.CharField(max_length=32)
    target = models.CharField(max_length=100)
    outcome = models.CharField(max_length=8, choices=OUTCOMES)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target}: {self.outcome}"


# --- Webhooks and people's labels: their models live with the features -----------------------

from dashboard.finetune.models import FineTuneRun  # noqa: E402, F401
from dashboard.labels.models import HumanLabel  # noqa: E402, F401
from dashboard.registry.models import ModelVersion, ShadowRun  # noqa: E402, F401
from dashboard.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent  # noqa: E402, F401
