"""One row per labelled item: what the live evaluation counts. Registered by `dashboard.models`."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class HumanLabel(models.Model):
    """A person's label on one done item, beside what its model said.

    It mirrors the item's `human_label_name` in DynamoDB (written right after it, by
    `dashboard.labels.services`), so the evaluation reads these rows, never the results table;
    `manage.py labels_rebuild` makes them again from the table if the two ever part.
    """

    item_id = models.CharField(max_length=128, primary_key=True)
    model = models.CharField(max_length=500, help_text="The model that classified the item, as the item names it.")
    predicted = models.CharField(max_length=100, help_text="The model's label name.")
    confidence = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=100, help_text="The person's label name: the truth.")
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="labels"
    )
    labelled_by_name = models.CharField(max_length=150)
    labelled_at = models.DateTimeField()
    item_created_at = models.DateTimeField()
    # Kept with the row so the evaluation is one GROUP BY on an index that covers it, with no
    # per-row function: the reliability bin of `confidence` (0-9) and the Monday of the item's week.
    confidence_bin = models.PositiveSmallIntegerField(null=True, blank=True)
    week = models.DateField()

    class Meta:
        app_label = "dashboard"
        ordering = ["-labelled_at"]
        indexes = [
            models.Index(
                fields=["model", "label", "predicted", "confidence_bin", "week", "confidence"],
                name="humanlabel_evaluation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.label} (model said {self.predicted})"
