"""Optional error reporting to Sentry, on only when SENTRY_DSN is set (webapp/settings.py calls this).

The Django integration reports unhandled errors in views, the RQ integration failed jobs in the
inference worker, and the default logging integration ERROR lines. `send_default_pii` stays off
unless SENTRY_SEND_DEFAULT_PII opts in: no user names, addresses, cookies or request bodies. Each
event is tagged with the ids of its log lines (request, job, batch), so an issue leads to its logs.
"""

from __future__ import annotations

from typing import Any

import structlog

# The log context fields copied onto an event as tags (docs/operations.md, "Logs").
TAGGED_FIELDS = ("request_id", "job_id", "batch_id")


def _tag_with_log_context(event: Any, hint: Any) -> Any:
    context = structlog.contextvars.get_contextvars()
    tags = event.setdefault("tags", {})
    for name in TAGGED_FIELDS:
        if context.get(name):
            tags.setdefault(name, str(context[name]))
    return event


def sentry_init(
    *,
    dsn: str,
    environment: str = "",
    release: str = "",
    send_default_pii: bool = False,
    traces_sample_rate: float = 0.0,
    transport: Any = None,
) -> None:
    """Start the Sentry client with the Django and RQ integrations. `transport` is for tests (no network)."""
    # Imported here: a process without a DSN never loads the SDK.
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    options: dict[str, Any] = {
        "dsn": dsn,
        "integrations": [DjangoIntegration(), RqIntegration()],
        "traces_sample_rate": traces_sample_rate,
        "before_send": _tag_with_log_context,
    }
    if send_default_pii:  # unset is off (sentry-sdk 2.75 deprecates passing it, in favour of data_collection)
        options["send_default_pii"] = True
    if environment:
        options["environment"] = environment
    if release:
        options["release"] = release
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
