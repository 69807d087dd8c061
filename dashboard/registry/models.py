"""A registered version of the classifier. Registered by `dashboard.models`."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelVersion(models.Model):
    """One version: where its weights are, what it was trained on, how it scored, and its status.

    At most one version is `serving` (the one the pointer names); a promote retires the one before.
    """

    STATUSES = [("candidate", "candidate"), ("serving", "serving"), ("retired", "retired")]

    id = models.CharField(max_length=140, primary_key=True, help_text="<name>@<version>: what results record.")
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=1000, help_text="A model directory on the worker hosts, or a hub id.")
    training_data = models.TextField(blank=True, help_text="What it was fine-tuned on, in words or paths.")
    parameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out metrics from its training.")
    status = models.CharField(max_length=10, choices=STATUSES, default="candidate")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True, help_text="When it last began serving.")
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        app_label = "dashboard"
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_model_version"),
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="serving"), name="one_serving_model_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


def _run_id() -> str:
    import uuid

    return uuid.uuid4().hex


class ShadowRun(models.Model):
    """A candidate run on chosen items beside the results they have: its answers are `shadow_*` on the items."""

    STATUSES = [("queued", "queued"), ("running", "running"), ("succeeded", "succeeded"), ("failed", "failed")]
    FINAL = frozenset({"succeeded", "failed"})

    id = models.CharField(max_length=32, primary_key=True, default=_run_id)
    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="shadow_runs")
    scope = models.CharField(max_length=500, help_text="Which items, in words.")
    item_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=STATUSES, default="queued")
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dashboard"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"shadow {self.id} of {self.candidate_id} on {self.scope}"

    @property
    def job_id(self) -> str:
        return f"shadow-{self.id}"
