"""Webhook deliveries counted by outcome, for Prometheus.

Outcomes: `delivered` (a 2xx), `retrying` (an attempt failed; another is scheduled), `failed`
(given up: the retry window passed or the webhook was disabled), `refused` (the address is not
public: SSRF rules, dashboard.webhooks.transport).
"""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter(
    "console_webhook_deliveries_total", "Webhook delivery attempts, by what came of them.", ["outcome"]
)


def delivery_counted(*, outcome: str) -> None:
    DELIVERIES.labels(outcome=outcome).inc()
