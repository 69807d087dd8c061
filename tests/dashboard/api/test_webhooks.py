from __future__ import annotations

import json

import pytest

from dashboard.aws import dynamodb
from dashboard.models import Batch
from dashboard.services import api_token_create
from dashboard.webhooks.models import Webhook
from dashboard.webhooks.signing import callback_secret

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks"
PUBLIC = "https://93.184.215.14/hooks/console"  # an address literal: no DNS in these tests


def _post(client, body, auth, url: str = URL):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=auth)


@pytest.fixture
def bob_auth(django_user_model) -> dict[str, str]:
    bob = django_user_model.objects.create_user(username="bob", password="pw-pw-pw-pw")
    _, raw = api_token_create(user=bob, name="tests")
    return {"Authorization": f"Bearer {raw}"}


def test_a_user_registers_lists_and_deletes_a_webhook(client, auth):
    created = _post(client, {"url": PUBLIC, "events": ["item.failed", "item.done"]}, auth)

    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["url"] == PUBLIC
    assert body["events"] == ["item.done", "item.failed"] and body["active"] is True
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]

    listed = client.get(URL, headers=auth).json()["webhooks"]
    assert [hook["id"] for hook in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert client.get(f"{URL}/{body['id']}", headers=auth).json()["url"] == PUBLIC
    assert client.get(f"{URL}/{body['id']}/deliveries", headers=auth).json() == {"deliveries": []}

    assert client.delete(f"{URL}/{body['id']}", headers=auth).status_code == 204
    assert client.get(URL, headers=auth).json() == {"webhooks": []}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "http://127.0.0.1/hook", "events": ["item.done"]}, "url", "loopback address"),
        ({"url": "http://10.0.0.1/", "events": ["item.done"]}, "url", "private address"),
        ({"url": "http://169.254.169.254/", "events": ["item.done"]}, "url", "cloud metadata address"),
        ({"url": "http://localhost/", "events": ["item.done"]}, "url", "loopback address"),
        ({"url": "ftp://example.com/", "events": ["item.done"]}, "url", "must start with https://"),
        ({"url": 7, "events": ["item.done"]}, "url", "must be a string"),
        ({"url": PUBLIC, "events": ["item.started"]}, "events", "Unknown event(s): item.started"),
        ({"url": PUBLIC, "events": []}, "events", "non-empty list"),
        ({"url": PUBLIC, "events": "item.done"}, "events", "non-empty list"),
        ({"url": PUBLIC}, "events", "Field 'events' is required."),
        ({"events": ["item.done"]}, "url", "Field 'url' is required."),
        ({"url": PUBLIC, "events": ["item.done"], "secret": "mine"}, "secret", "Unknown field(s): secret."),
    ],
)
def test_it_refuses_a_bad_url_or_events_with_a_400_naming_the_field(client, auth, settings, body, field, message):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = _post(client, body, auth)

    assert response.status_code == 400
    assert message in response.json()["error"] and field in response.json()["fields"]
    assert not Webhook.objects.exists()


def test_it_refuses_a_body_that_is_not_json(client, auth):
    assert _post(client, "{not json", auth).status_code == 400
    assert client.post(URL, data="url=x", content_type="text/plain", headers=auth).status_code == 415


def test_another_users_webhook_is_a_404(client, auth, bob_auth):
    webhook_id = _post(client, {"url": PUBLIC, "events": ["item.done"]}, auth).json()["id"]

    assert client.get(f"{URL}/{webhook_id}", headers=bob_auth).status_code == 404
    assert client.get(f"{URL}/{webhook_id}/deliveries", headers=bob_auth).status_code == 404
    assert client.delete(f"{URL}/{webhook_id}", headers=bob_auth).status_code == 404
    assert client.post(f"{URL}/{webhook_id}/deliveries/1/redeliver", headers=bob_auth).status_code == 404
    assert client.get(URL, headers=bob_auth).json() == {"webhooks": []}
    assert Webhook.objects.filter(pk=webhook_id).exists()


def test_staff_see_every_webhook(client, auth, staff):
    _post(client, {"url": PUBLIC, "events": ["item.done"]}, auth)
    _, raw = api_token_create(user=staff, name="tests")

    listed = client.get(URL, headers={"Authorization": f"Bearer {raw}"}).json()["webhooks"]

    assert [hook["owner"] for hook in listed] == ["alice"]


def test_it_needs_a_login(client):
    assert client.get(URL).status_code == 401
    assert _post(client, {"url": PUBLIC, "events": ["item.done"]}, {}).status_code == 401


def test_a_submission_with_a_callback_url_gets_its_secret_and_keeps_the_url(
    client, auth, results_table, queue, capacity_on
):
    response = _post(client, {"text": "I loved it", "callback_url": PUBLIC}, auth, url="/api/v1/submissions")

    assert response.status_code == 202
    body = response.json()
    assert body["callback_secret"] == callback_secret(subject=f"item:{body['id']}")
    assert dynamodb.item_get(item_id=body["id"])["callback_url"] == PUBLIC


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://169.254.169.254/latest", "gopher://x/"])
def test_a_submission_with_a_private_callback_url_is_refused(client, auth, results_table, settings, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = _post(client, {"text": "I loved it", "callback_url": url}, auth, url="/api/v1/submissions")

    assert response.status_code == 400
    assert response.json()["error"].startswith("callback_url: ") and "callback_url" in response.json()["fields"]


def test_a_batch_with_a_callback_url_gets_its_secret_and_keeps_the_url(client, auth, results_table, queue, capacity_on):
    response = _post(client, {"texts": ["a", "b"], "callback_url": PUBLIC}, auth, url="/api/v1/batches")

    assert response.status_code == 202
    body = response.json()
    assert body["callback_secret"] == callback_secret(subject=f"batch:{body['id']}")
    assert Batch.objects.get(pk=body["id"]).callback_url == PUBLIC


def test_a_csv_batch_takes_its_callback_url_as_a_query_parameter(client, auth, results_table, queue, capacity_on):
    response = client.post(
        f"/api/v1/batches?callback_url={PUBLIC}", data="text\nhello\n", content_type="text/csv", headers=auth
    )

    assert response.status_code == 202
    assert Batch.objects.get(pk=response.json()["id"]).callback_url == PUBLIC


def test_a_batch_with_a_private_callback_url_stores_nothing(client, auth, results_table, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = _post(client, {"texts": ["a"], "callback_url": "http://10.1.1.1/"}, auth, url="/api/v1/batches")

    assert response.status_code == 400
    assert "private address" in response.json()["fields"]["callback_url"]
    assert not Batch.objects.exists()


def test_the_delivery_log_lists_attempts_and_a_redelivery_is_queued(client, auth, user, redis_conn):
    from datetime import UTC, datetime

    from dashboard.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent
    from dashboard.webhooks.queue import DELIVERY_SEND_JOB, webhooks_queue

    webhook_id = _post(client, {"url": PUBLIC, "events": ["item.done"]}, auth).json()["id"]
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    event = WebhookEvent.objects.create(id="evt_9", type="item.done", key="k", body="{}", created_at=at)
    delivery = WebhookDelivery.objects.create(
        event=event, webhook_id=webhook_id, user=user, url=PUBLIC, created_at=at, state="failed", attempts=1
    )
    WebhookAttempt.objects.create(
        delivery=delivery, created_at=at, outcome="failed", status_code=502, latency_ms=12, response_snippet="bad"
    )

    [listed] = client.get(f"{URL}/{webhook_id}/deliveries", headers=auth).json()["deliveries"]
    assert (listed["event_id"], listed["state"], listed["event_type"]) == ("evt_9", "failed", "item.done")
    assert listed["attempts"] == [
        {
            "at": at.isoformat(),
            "outcome": "failed",
            "status_code": 502,
            "latency_ms": 12,
            "response_snippet": "bad",
            "error": None,
        }
    ]

    again = client.post(f"{URL}/{webhook_id}/deliveries/{delivery.pk}/redeliver", headers=auth)
    assert again.status_code == 202
    assert again.json()["event_id"] == "evt_9" and again.json()["state"] == "pending"
    [job] = webhooks_queue().get_jobs()
    assert job.func_name == DELIVERY_SEND_JOB
    assert client.post(f"{URL}/{webhook_id}/deliveries/nope/redeliver", headers=auth).status_code == 404


def test_a_disabled_webhooks_delivery_is_not_redelivered(client, auth, user):
    from datetime import UTC, datetime

    from dashboard.webhooks.models import WebhookDelivery, WebhookEvent

    webhook_id = _post(client, {"url": PUBLIC, "events": ["item.done"]}, auth).json()["id"]
    Webhook.objects.filter(pk=webhook_id).update(disabled_at=datetime(2026, 12, 1, tzinfo=UTC), disabled_reason="x")
    event = WebhookEvent.objects.create(id="evt_8", type="item.done", key="k", body="{}", created_at=datetime.now(UTC))
    delivery = WebhookDelivery.objects.create(
        event=event, webhook_id=webhook_id, user=user, url=PUBLIC, created_at=datetime.now(UTC)
    )

    response = client.post(f"{URL}/{webhook_id}/deliveries/{delivery.pk}/redeliver", headers=auth)

    assert response.status_code == 409 and "enable it" in response.json()["error"]
    assert client.get(f"{URL}/{webhook_id}", headers=auth).json()["disabled_reason"] == "x"


def test_a_user_may_have_so_many_webhooks(client, auth, user):
    from dashboard.webhooks.services import WEBHOOKS_PER_USER

    for n in range(WEBHOOKS_PER_USER):
        Webhook.objects.create(user=user, url=f"{PUBLIC}/{n}", events=["item.done"], secret="whsec_x")

    response = _post(client, {"url": PUBLIC, "events": ["item.done"]}, auth)

    assert response.status_code == 400 and "delete one first" in response.json()["error"]
    assert Webhook.objects.count() == WEBHOOKS_PER_USER
