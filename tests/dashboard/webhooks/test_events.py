from __future__ import annotations

import json

import pytest

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.csv_upload import BatchRow
from dashboard.webhooks.events import BATCH_FINISHED_KEY, items_finished_handle
from dashboard.webhooks.models import Webhook, WebhookDelivery, WebhookEvent
from tests.dashboard.webhooks.support import webhooks_drain

pytestmark = pytest.mark.django_db


def _finish(item_id: str, *, failed: bool = False) -> None:
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    if failed:
        dynamodb.item_finish(item_id=item_id, status="failed", claimed_by="t", error="bad", model="m")
    else:
        dynamodb.item_finish(
            item_id=item_id, status="done", claimed_by="t", label=1, label_name="positive", confidence=0.7, model="m"
        )


def _item(item_id: str, *, user, **extra) -> None:
    item = dynamodb.new_item(item_id=item_id, text=f"text {item_id}") | {"submitted_by": user.get_username()} | extra
    dynamodb.item_put_new(item=item)


def _bodies(receiver) -> list[dict]:
    return [json.loads(received.body) for received in receiver.requests]


def test_finished_items_make_one_event_each_for_the_webhooks_that_asked(user, results_table, receiver):
    done_only = Webhook.objects.create(user=user, url=receiver.url, events=["item.done"], secret="whsec_a")
    for item_id in ("a", "b", "c"):
        _item(item_id, user=user)
    _finish("a")
    _finish("b", failed=True)  # "c" stays queued

    assert items_finished_handle(item_ids=["a", "b", "c", "missing"]) == 2
    webhooks_drain()

    assert {event.type for event in WebhookEvent.objects.all()} == {"item.done", "item.failed"}
    [body] = _bodies(receiver)
    assert body["type"] == "item.done" and body["id"].startswith("evt_")
    public = dynamodb.item_get(item_id="a")
    assert body["data"]["item"] == {field: public[field] for field in dynamodb.ITEM_FIELDS} | {"batch_id": None}
    assert WebhookDelivery.objects.get().webhook == done_only


def test_a_job_run_twice_makes_no_second_event(user, results_table, webhook, receiver):
    _item("a", user=user)
    _finish("a")

    assert items_finished_handle(item_ids=["a"]) == 1
    assert items_finished_handle(item_ids=["a"]) == 0
    webhooks_drain()

    assert len(receiver.requests) == 1


def test_other_users_webhooks_get_nothing(user, django_user_model, results_table, receiver):
    bob = django_user_model.objects.create_user(username="bob", password="pw-pw-pw-pw")
    Webhook.objects.create(user=bob, url=receiver.url, events=["item.done"], secret="whsec_b")
    _item("a", user=user)
    _finish("a")

    items_finished_handle(item_ids=["a"])
    webhooks_drain()

    assert receiver.requests == []


def test_a_submissions_callback_url_gets_its_item_event(user, results_table, receiver):
    _item("a", user=user, callback_url=receiver.url)
    _finish("a", failed=True)

    items_finished_handle(item_ids=["a"])
    webhooks_drain()

    [body] = _bodies(receiver)
    assert body["type"] == "item.failed" and body["data"]["item"]["error"] == "bad"


def _batch(user, receiver, n: int):
    rows = [BatchRow(text=f"text {i}", item_id=f"b{i}") for i in range(n)]
    return services.batch_create(rows=rows, source="api", submitted_by=user, callback_url=receiver.url)


@pytest.mark.parametrize(("fail", "event_type"), [(set(), "batch.complete"), ({"b1"}, "batch.failed")])
def test_a_batch_end_is_sent_once_when_its_last_item_finishes(
    user, results_table, receiver, capacity_on, redis_conn, fail, event_type
):
    batch = _batch(user, receiver, 3)
    _finish("b0")
    items_finished_handle(item_ids=["b0"])
    webhooks_drain()
    assert receiver.requests == [] and int(redis_conn.get(BATCH_FINISHED_KEY + batch.id)) == 1

    for item_id in ("b1", "b2"):
        _finish(item_id, failed=item_id in fail)
    items_finished_handle(item_ids=["b1", "b2"])
    items_finished_handle(item_ids=["b2"])  # a duplicate job: counted again, but the end is sent once
    webhooks_drain()

    [body] = _bodies(receiver)
    assert body["type"] == event_type
    assert body["data"]["batch"]["id"] == batch.id and body["data"]["batch"]["status"] == "complete"
    assert body["data"]["batch"]["counts"]["failed"] == len(fail)


def test_a_batch_the_page_finds_complete_sends_its_end(user, results_table, receiver, capacity_on):
    batch = _batch(user, receiver, 2)
    for item_id in ("b0", "b1"):
        _finish(item_id)  # finished by a path that queued no events (e.g. the reconciler)

    services.batch_progress(batch=batch)
    webhooks_drain()

    assert [body["type"] for body in _bodies(receiver)] == ["batch.complete"]
