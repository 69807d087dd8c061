"""Requeue failed items from the pages: the explorer's filters and the batch page, bounded and audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.csv_upload import parse_lines
from dashboard.models import AuditEvent
from tests.dashboard.batch_support import batch_items_finish

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capacity_on")]


def _failed(item_id: str, *, model: str = "m") -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}"))
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    dynamodb.item_finish(item_id=item_id, status="failed", claimed_by="t", error="bad", model=model)


def _requeue(client, **filters):
    data = {"action": "requeue", "next": reverse("dashboard:results"), **filters}
    return client.post(reverse("dashboard:results_actions"), data, follow=True)


def test_the_explorer_requeues_the_failed_items_matching_its_filters(user_client, results_table, queue):
    _failed("f-1", model="m")
    _failed("f-2", model="other")
    page = user_client.get(reverse("dashboard:results"), {"model": "m"}).content.decode()
    assert 'name="model" value="m"' in page and 'value="requeue"' in page

    response = _requeue(user_client, model="m")

    assert "Requeued 1 failed item(s)." in response.content.decode()
    assert [dynamodb.item_get(item_id=i)["status"] for i in ("f-1", "f-2")] == ["queued", "failed"]
    assert [job.args[0] for job in queue.get_jobs()] == [["f-1"]]
    event = AuditEvent.objects.get()
    assert (event.action, event.target, event.count) == ("requeue", "filter status=failed, model=m", 1)


def test_the_explorer_requeue_is_bounded_per_click(user_client, results_table, queue, settings):
    settings.REQUEUE_MAX_ITEMS = 2
    for n in range(3):
        _failed(f"f-{n}")

    page = _requeue(user_client).content.decode()

    assert "Requeued 2 failed item(s). More match: at most 2 are requeued per request" in page
    assert sorted(dynamodb.item_get(item_id=f"f-{n}")["status"] for n in range(3)) == ["failed", "queued", "queued"]


def test_a_text_filter_requeue_is_for_staff(user_client, results_table, queue):
    _failed("f-1")
    page = _requeue(user_client, text="text").content.decode()
    assert "Nothing requeued" in page
    assert dynamodb.item_get(item_id="f-1")["status"] == "failed"


def test_the_batch_page_requeues_its_failed_items(user_client, user, results_table, queue):
    batch = services.batch_create(rows=parse_lines("one\ntwo").rows, source="paste", submitted_by=user)
    first = next(dynamodb.batch_items_iter(batch_id=batch.id))["id"]
    queue.empty()
    batch_items_finish(batch_id=batch.id, fail={first})

    response = user_client.post(reverse("dashboard:batch_requeue", args=[batch.id]), follow=True)

    assert "Requeued 1 failed item(s)." in response.content.decode()
    assert [job.args[0] for job in queue.get_jobs()] == [[first]]
    assert AuditEvent.objects.get().target == f"batch {batch.id}"
