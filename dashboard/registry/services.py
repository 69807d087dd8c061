"""Register, promote and roll back model versions: staff actions, each audited.

A promote marks the version `serving` (the one before it `retired`) and writes the pointer every
worker reads between jobs, in one database transaction that is undone if Redis does not take the
pointer. Each worker finishes the job it has, loads the version, and goes on with the next job;
one that cannot load it keeps serving what it had and says why on the Fleet page
(`classifier.worker`). A roll back is a promote of the version that served before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from dashboard import audit
from dashboard.exceptions import RegistryError
from dashboard.registry.models import ModelVersion
from dashboard.registry.pointer import serving_pointer_set
from dashboard.registry.selectors import version_previous, version_serving
from dashboard.selectors import metrics_read

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def model_register(
    *,
    name: str,
    source: str,
    user: Any,
    training_data: str = "",
    parameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register the next version of `name` as a candidate. Its metrics, when not given, are read from
    `metrics.json` in `source` if this host can see that directory. Raises RegistryError."""
    name, source = name.strip(), source.strip()
    if not NAME.fullmatch(name):
        raise RegistryError("A model name is 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit.")
    if not source or len(source) > 1000:
        raise RegistryError("Give the model's source: a directory on the worker hosts or a hub id.")
    for _ in range(3):  # two registrations of one name at once: the loser takes the next number
        number = (ModelVersion.objects.filter(name=name).aggregate(top=Max("version"))["top"] or 0) + 1
        try:
            with transaction.atomic():
                version = ModelVersion.objects.create(
                    id=f"{name}@{number}",
                    name=name,
                    version=number,
                    source=source,
                    training_data=training_data[:10_000],
                    parameters=parameters or {},
                    metrics=metrics if metrics is not None else metrics_read(Path(source) / "metrics.json") or {},
                    created_by=user if getattr(user, "pk", None) else None,
                )
        except IntegrityError:
            continue
        _audit(user, action="model register", target=version.id, detail=f"source {source}")
        return version
    raise RegistryError(f"Could not number a new version of {name!r}; try again.")


def model_promote(*, version_id: str, user: Any) -> ModelVersion:
    """Make `version_id` the serving version; the one serving before is retired. Raises RegistryError."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None:
            raise RegistryError(f"No model version {version_id!r}.")
        if version.status == "serving":
            raise RegistryError(f"{version.id} is serving already.")
        before = ModelVersion.objects.select_for_update().filter(status="serving").first()
        if before is not None:
            before.status = "retired"
            before.save(update_fields=["status"])
        version.status, version.promoted_at = "serving", timezone.now()
        version.promoted_by = user if getattr(user, "pk", None) else None
        version.save(update_fields=["status", "promoted_at", "promoted_by"])
        serving_pointer_set(version_id=version.id, source=version.source)  # QueueUnavailable undoes it all
    shown = f"was {before.id}" if before else "nothing registered served before"
    _audit(user, action="model promote", target=version.id, detail=shown)
    return version


def model_rollback(*, user: Any) -> ModelVersion:
    """Promote the version that served before the serving one. Raises RegistryError when there is none."""
    serving, previous = version_serving(), version_previous()
    if serving is None or previous is None:
        raise RegistryError("Nothing to roll back to: no other version has served.")
    version = model_promote(version_id=previous.id, user=user)
    _audit(user, action="model rollback", target=version.id, detail=f"from {serving.id}")
    return version


def _audit(user: Any, *, action: str, target: str, detail: str) -> None:
    audit.audit_record(kind="model", actor=user, action=action, target=target, outcome="ok", detail=detail)
