"""Reads of the registry: the versions, the serving one, and their public shape."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from dashboard.registry.models import ModelVersion


def versions_all() -> list[ModelVersion]:
    return list(ModelVersion.objects.select_related("created_by", "promoted_by"))


def version_serving() -> ModelVersion | None:
    return ModelVersion.objects.filter(status="serving").first()


def version_public(version: ModelVersion) -> dict[str, Any]:
    """A version as the API shows it."""
    return {
        "id": version.id,
        "name": version.name,
        "version": version.version,
        "source": version.source,
        "status": version.status,
        "training_data": version.training_data,
        "parameters": version.parameters,
        "metrics": version.metrics,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by.get_username() if version.created_by else None,
        "promoted_at": version.promoted_at.isoformat() if version.promoted_at else None,
        "promoted_by": version.promoted_by.get_username() if version.promoted_by else None,
        "evaluation": reverse("api_model_evaluation", kwargs={"model_id": version.id}),
    }


def version_exists(*, version_id: str) -> bool:
    return ModelVersion.objects.filter(pk=version_id).exists()


def version_previous() -> ModelVersion | None:
    """The version that served before the serving one: what a roll back promotes."""
    return (
        ModelVersion.objects.filter(promoted_at__isnull=False)
        .exclude(status="serving")
        .order_by("-promoted_at")
        .first()
    )
