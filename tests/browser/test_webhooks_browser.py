"""The webhooks pages in a real browser: register one, see its secret once, read its delivery log."""

from __future__ import annotations

import pytest

from dashboard.webhooks.events import event_emit
from dashboard.webhooks.models import Webhook
from tests.dashboard.webhooks.support import Receiver, webhooks_drain

pytestmark = pytest.mark.browser


def test_a_user_registers_a_webhook_sees_its_secret_once_and_its_delivery_log(
    user_page, settings, redis_conn, screenshot
):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_RETRY_BASE_S, settings.WEBHOOK_RETRY_MAX_S = 0.05, 0.2
    page = user_page
    with Receiver() as receiver:
        receiver.replies = [(500, {}, b"<b>busy</b>")]  # then 200s
        page.goto("/webhooks/")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("batch.failed").uncheck()
        page.get_by_role("button", name="Add webhook").click()

        webhook = Webhook.objects.get()
        assert page.locator("#webhook-secret code").inner_text() == webhook.secret
        assert webhook.events == ["item.done", "item.failed", "batch.complete"]
        screenshot(page, "secret")
        page.goto("/webhooks/")
        assert page.locator("#webhook-secret").count() == 0
        assert webhook.secret not in page.content()

        event_emit(
            event_type="item.done",
            key="item.done:b-1:t",
            data={"item": {"id": "b-1"}},
            user=page.user,
            callback_url="",
            subject="item:b-1",
        )
        webhooks_drain()
        delivery = webhook.deliveries.get()

        page.get_by_role("link", name=receiver.url).click()
        rows = page.locator("table.deliveries tbody tr")
        assert rows.count() == 1
        text = rows.first.inner_text()
        assert delivery.event_id in text and "delivered" in text and "500" in text and "200" in text
        assert rows.first.locator("code.snippet").last.inner_text() == "<b>busy</b>"  # shown as text, not markup
        screenshot(page, "delivery-log")

        page.get_by_role("button", name=f"Redeliver {delivery.event_id}").click()
        assert "queued for redelivery" in page.locator(".messages").inner_text()
        webhooks_drain()
        page.reload()
        assert rows.count() == 2
    assert len(receiver.requests) == 3
    assert page.js_errors == []
