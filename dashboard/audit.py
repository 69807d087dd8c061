"""The audit trail: one write for every change to data, capacity or access (its reads are in selectors)."""

from __future__ import annotations

import logging
from typing import Any

from dashboard.models import AuditEvent

log = logging.getLogger(__name__)

KINDS = tuple(kind for kind, _ in AuditEvent.KINDS)


def audit_record(
    *,
    kind: str = "power",
    actor: Any = None,
    actor_name: str | None = None,
    action: str,
    target: str,
    outcome: str,
    count: int = 1,
    detail: str = "",
) -> AuditEvent | None:
    """Write one audit event; never raises (an audit failure must not undo the action it records).

    `actor` is a user (or None for the system); `actor_name` defaults to the user's username.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    user = actor if getattr(actor, "pk", None) else None
    name = actor_name or (user.get_username() if user is not None else "system")
    try:
        return AuditEvent.objects.create(
            kind=kind,
            actor=user,
            actor_name=name[:150],
            action=action[:32],
            target=target[:100],
            outcome=outcome,
            count=max(0, int(count)),
            detail=detail[:2000],
        )
    except Exception:  # the database being down must not turn a successful action into an error
        log.exception("could not write the audit event %s %s %s", name, action, target)
        return None
