"""A fine-tuning run. Registered by `dashboard.models`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def _run_id() -> str:
    return uuid.uuid4().hex


class FineTuneRun(models.Model):
    """One run: what it trains from and on, and how it ended. Its live figures are in Redis while it runs."""

    STATUSES = [
        ("queued", "queued"),
        ("running", "running"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
    ]
    FINAL = frozenset({"succeeded", "failed", "cancelled"})

    id = models.CharField(max_length=32, primary_key=True, default=_run_id)
    name = models.CharField(max_length=100, help_text="The model name its candidate is registered under.")
    base = models.CharField(max_length=1000, help_text="What it starts from: a registry id, a hub id or a directory.")
    base_source = models.CharField(max_length=1000, help_text="Where the base's weights are.")
    data_summary = models.CharField(max_length=500)
    rows = models.PositiveIntegerField()
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=STATUSES, default="queued")
    error = models.TextField(blank=True)
    output = models.CharField(max_length=1000, help_text="The directory on the worker host it writes.")
    model_version = models.ForeignKey(
        "dashboard.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dashboard"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"fine-tune {self.id} of {self.base} ({self.status})"

    @property
    def job_id(self) -> str:
        return f"finetune-{self.id}"
