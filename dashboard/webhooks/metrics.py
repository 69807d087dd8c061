"""Webhook deliveries counted by outcome, for Prometheus (the family is defined in dashboard.metrics).

Outcomes: `delivered` (a 2xx), `retrying` (an attempt failed; another is scheduled), `failed`
(given up: the retry window passed or the webhook was disabled), `refused` (the address is not
public: SSRF rules, dashboard.webhooks.transport).
"""

from __future__ import annotations

from dashboard.metrics import WEBHOOK_DELIVERIES


def delivery_counted(*, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
