"""Fixtures for the webhook tests: a real local receiver (the only host the allow setting lists),
retries on a fast schedule, and a user's webhook pointed at the receiver."""

from __future__ import annotations

import pytest

from tests.dashboard.webhooks.support import Receiver


@pytest.fixture
def receiver(settings, redis_conn):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with Receiver() as running:
        yield running


@pytest.fixture
def fast_retries(settings):
    settings.WEBHOOK_RETRY_BASE_S = 0.05
    settings.WEBHOOK_RETRY_MAX_S = 0.2


@pytest.fixture
def webhook(user, receiver):
    from dashboard.webhooks.models import EVENT_TYPES
    from dashboard.webhooks.services import webhook_create

    made, secret = webhook_create(user=user, url=receiver.url, events=list(EVENT_TYPES))
    made.secret_shown = secret
    return made
