from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from prometheus_client import REGISTRY

from dashboard.webhooks import signing
from dashboard.webhooks.delivery import delivery_attempt, retry_delay
from dashboard.webhooks.events import event_emit
from dashboard.webhooks.models import Webhook, WebhookDelivery
from dashboard.webhooks.services import delivery_redeliver
from tests.dashboard.webhooks.support import webhooks_drain

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def _emit(user, key: str = "item.done:it-1:t", callback_url: str = "") -> WebhookDelivery:
    event_emit(
        event_type="item.done",
        key=key,
        data={"item": {"id": "it-1"}},
        user=user,
        callback_url=callback_url,
        subject="item:it-1",
    )
    return WebhookDelivery.objects.filter(event__key=key).order_by("pk").first()


def _counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("console_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def test_a_500_is_retried_and_then_delivered_with_the_same_event_id_and_body(webhook, receiver, fast_retries):
    receiver.replies = [(500, {}, b"database down"), (200, {}, b"thanks")]
    retrying, delivered = _counted("retrying"), _counted("delivered")

    delivery = _emit(webhook.user)
    webhooks_drain()

    first, second = receiver.requests
    assert first.headers[signing.EVENT_HEADER] == second.headers[signing.EVENT_HEADER] == delivery.event_id
    assert first.body == second.body and json.loads(first.body)["id"] == delivery.event_id
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    newest, oldest = delivery.attempt_log.all()
    assert (oldest.outcome, oldest.status_code, oldest.response_snippet) == ("failed", 500, "database down")
    assert "HTTP 500" in oldest.error
    assert (newest.outcome, newest.status_code, newest.response_snippet) == ("delivered", 200, "thanks")
    assert newest.latency_ms is not None
    assert (_counted("retrying") - retrying, _counted("delivered") - delivered) == (1, 1)


def test_it_is_never_sent_to_a_private_address(user, receiver, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []  # the receiver's 127.0.0.1 is loopback like any other now
    Webhook.objects.create(user=user, url=receiver.url, events=["item.done"], secret="whsec_x")
    Webhook.objects.create(user=user, url="http://10.0.0.7/hook", events=["item.done"], secret="whsec_y")
    port = receiver.server.server_address[1]
    Webhook.objects.create(user=user, url=f"http://localhost:{port}/hook", events=["item.done"], secret="whsec_z")
    refused = _counted("refused")

    _emit(user)
    webhooks_drain()

    assert receiver.requests == []
    deliveries = WebhookDelivery.objects.all()
    assert [d.state for d in deliveries] == ["failed"] * 3
    for delivery in deliveries:
        [attempt] = delivery.attempt_log.all()
        assert attempt.outcome == "refused" and "webhooks only go to public addresses" in attempt.error
    assert _counted("refused") - refused == 3


def test_a_redirect_to_a_private_address_is_not_followed(webhook, receiver):
    receiver.replies = [(302, {"Location": "http://10.0.0.1/steal"}, b"")]
    delivery = _emit(webhook.user)

    assert delivery_attempt(delivery_id=delivery.pk, attempt=0) == "retrying"

    assert len(receiver.requests) == 1
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 302 and attempt.outcome == "failed"
    assert attempt.error == "Redirects are not followed (to http://10.0.0.1/steal)."


def test_a_webhook_that_fails_for_a_day_is_disabled_with_its_reason(webhook, receiver, settings):
    receiver.replies = [(503, {}, b"no")] * 3
    with time_machine.travel(T0, tick=False):
        first = _emit(webhook.user, key="a")
        delivery_attempt(delivery_id=first.pk, attempt=0)
    webhook.refresh_from_db()
    assert webhook.failing_since == T0 and webhook.active

    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        delivery_attempt(delivery_id=_emit(webhook.user, key="b").pk, attempt=0)
    webhook.refresh_from_db()
    assert webhook.active

    with time_machine.travel(T0 + timedelta(hours=24, minutes=1), tick=False):
        last = _emit(webhook.user, key="c")
        assert delivery_attempt(delivery_id=last.pk, attempt=0) == "failed"
    webhook.refresh_from_db()
    assert not webhook.active and webhook.disabled_at == T0 + timedelta(hours=24, minutes=1)
    assert "every delivery failed for 24 h (since 2026-12-31 23:00 UTC)" in webhook.disabled_reason
    assert "HTTP 503" in webhook.disabled_reason
    # A disabled webhook gets no new deliveries, and its pending retries give up.
    assert _emit(webhook.user, key="d") is None
    assert delivery_attempt(delivery_id=first.pk, attempt=1) == "failed"


def test_a_delivered_attempt_ends_the_failing_run(webhook, receiver):
    receiver.replies = [(500, {}, b""), (200, {}, b"")]
    delivery = _emit(webhook.user)
    delivery_attempt(delivery_id=delivery.pk, attempt=0)
    webhook.refresh_from_db()
    assert webhook.failing_since is not None

    assert delivery_attempt(delivery_id=delivery.pk, attempt=1) == "delivered"

    webhook.refresh_from_db()
    assert webhook.failing_since is None


def test_retries_stop_once_the_window_has_passed(webhook, receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_S = 10 * 86400
    receiver.replies = [(500, {}, b"")] * 2
    with time_machine.travel(T0, tick=False):
        delivery = _emit(webhook.user)
        assert delivery_attempt(delivery_id=delivery.pk, attempt=0) == "retrying"
    with time_machine.travel(T0 + timedelta(hours=23, minutes=59, seconds=50), tick=False):
        assert delivery_attempt(delivery_id=delivery.pk, attempt=1) == "failed"
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.next_attempt_at is None


def test_a_job_for_an_attempt_already_made_does_nothing(webhook, receiver):
    delivery = _emit(webhook.user)
    assert delivery_attempt(delivery_id=delivery.pk, attempt=0) == "delivered"

    assert delivery_attempt(delivery_id=delivery.pk, attempt=0) == "skipped"
    assert len(receiver.requests) == 1


def test_a_redelivery_sends_the_same_event_again(webhook, receiver):
    delivery = _emit(webhook.user)
    webhooks_drain()

    again = delivery_redeliver(delivery=delivery)
    webhooks_drain()

    first, second = receiver.requests
    assert again.pk != delivery.pk and again.event_id == delivery.event_id
    assert first.body == second.body
    again.refresh_from_db()
    assert again.state == "delivered"


def test_a_callback_is_signed_with_its_subjects_secret(user, receiver):
    _emit(None, callback_url=receiver.url)
    webhooks_drain()

    [received] = receiver.requests
    header = received.headers[signing.SIGNATURE_HEADER]
    timestamp = int(header.split(",")[0][2:])
    secret = signing.callback_secret(subject="item:it-1")
    assert header == signing.signature_header(secret=secret, timestamp=timestamp, body=received.body)


def test_the_retry_delay_doubles_with_jitter_up_to_its_cap(settings):
    settings.WEBHOOK_RETRY_BASE_S, settings.WEBHOOK_RETRY_MAX_S = 30, 3600
    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (8, 3600), (20, 3600)]:
        delays = {retry_delay(attempts=attempts) for _ in range(50)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1


def test_a_delivery_whose_job_was_lost_is_queued_again_once_overdue(webhook, receiver, redis_conn):
    from dashboard.webhooks.delivery import OVERDUE_S, deliveries_resume

    with time_machine.travel(T0, tick=False):
        delivery = _emit(webhook.user)
    redis_conn.flushdb()  # Redis lost the job
    with time_machine.travel(T0 + timedelta(seconds=OVERDUE_S - 1), tick=False):
        assert deliveries_resume() == 0
    with time_machine.travel(T0 + timedelta(seconds=OVERDUE_S + 1), tick=False):
        assert deliveries_resume() == 1
        assert deliveries_resume() == 0  # moved on: not queued twice
        webhooks_drain()

    delivery.refresh_from_db()
    assert delivery.state == "delivered" and len(receiver.requests) == 1
