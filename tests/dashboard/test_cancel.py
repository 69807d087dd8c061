"""Cancelling from the pages and through dashboard.cancel: the item's page, the explorer's selection, the batch page."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from dashboard import cancel, services
from dashboard.aws import dynamodb
from dashboard.csv_upload import parse_lines
from dashboard.exceptions import ItemConflict, ItemNotFound
from dashboard.models import AuditEvent
from dashboard.power.fleet import queue_counts, store_counts
from dashboard.queue import classify_enqueue
from dashboard.reconcile import reconcile
from tests.dashboard.batch_support import batch_items_finish

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capacity_on")]


def _queued(item_id: str, *, by: str = "alice") -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}") | {"submitted_by": by})


def _done(item_id: str) -> None:
    _queued(item_id)
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    dynamodb.item_finish(item_id=item_id, status="done", claimed_by="t", label=1, label_name="positive", model="m")


def test_a_queued_item_is_cancelled_with_who_when_and_why(user, results_table, queue):
    _queued("q-1")

    item = cancel.submission_cancel(item_id="q-1", user=user, reason="  sent twice  ")

    stored = dynamodb.item_get(item_id="q-1")
    assert item["status"] == stored["status"] == "cancelled"
    assert (stored["cancelled_by"], stored["cancel_reason"]) == ("alice", "sent twice")
    assert stored["error"] == "Cancelled by alice: sent twice"
    assert stored["finished_at"] >= stored["created_at"]
    event = AuditEvent.objects.get()
    assert (event.kind, event.action, event.target, event.actor_name) == ("data", "cancel", "q-1", "alice")
    assert "sent twice" in event.detail


def test_a_finished_or_cancelled_item_cannot_be_cancelled(user, results_table, queue):
    _done("d-1")
    _queued("q-1")
    cancel.submission_cancel(item_id="q-1", user=user)

    with pytest.raises(ItemConflict, match="is done"):
        cancel.submission_cancel(item_id="d-1", user=user)
    with pytest.raises(ItemConflict, match="is cancelled"):
        cancel.submission_cancel(item_id="q-1", user=user)
    assert dynamodb.item_get(item_id="d-1")["status"] == "done"


def test_another_users_item_is_not_found_but_staff_can_cancel_it(user, staff, results_table, queue):
    _queued("bob-1", by="bob")

    with pytest.raises(ItemNotFound):
        cancel.submission_cancel(item_id="bob-1", user=user)
    assert dynamodb.item_get(item_id="bob-1")["status"] == "queued"
    assert cancel.submission_cancel(item_id="bob-1", user=staff)["cancelled_by"] == "sam"


def test_a_job_is_removed_only_when_none_of_its_items_is_left(user, results_table, queue):
    for item_id in ("a", "b", "c", "d"):
        _queued(item_id)
    _done("e")
    classify_enqueue(item_ids=["a", "b"])
    classify_enqueue(item_ids=["c", "d"])
    classify_enqueue(item_ids=["a", "e"])  # a re-run's job: its other item is already done

    cancel.items_cancel(item_ids=["a", "b", "c"], user=user)

    assert [job.args[0] for job in queue.get_jobs()] == [["c", "d"]]
    assert queue_counts()["queued"] == 1


def test_cancelled_items_are_not_counted_as_work_for_the_power_manager(user, results_table, queue):
    for item_id in ("a", "b"):
        _queued(item_id)
    classify_enqueue(item_ids=["a", "b"])
    dynamodb.item_claim(item_id="b", claimed_by="host:1:job")

    cancel.items_cancel(item_ids=["a", "b"], user=user)

    assert queue_counts()["queued"] == 0
    counts = store_counts()
    assert (counts["queued"], counts["running"]) == (0, 0)


def test_the_reconciler_never_brings_a_cancelled_item_back(user, results_table, queue):
    _queued("waiting")
    _queued("running")
    dynamodb.item_claim(item_id="running", claimed_by="host:1:gone-job", job_id="gone-job")
    cancel.items_cancel(item_ids=["waiting", "running"], user=user)

    report = reconcile(queued_after=0, lease=0, ensure_capacity=False)

    assert (report.requeued, report.released, report.failed) == ([], [], [])
    assert {dynamodb.item_get(item_id=i)["status"] for i in ("waiting", "running")} == {"cancelled"}
    assert queue.count == 0


def test_a_cancelled_item_is_not_re_run(user_client, results_table, queue):
    _queued("q-1")
    user_client.post(reverse("dashboard:result_cancel", args=["q-1"]))

    user_client.post(reverse("dashboard:results_actions"), {"action": "rerun", "ids": ["q-1"]})

    assert dynamodb.item_get(item_id="q-1")["status"] == "cancelled"
    assert queue.count == 0


# --- the item's page ----------------------------------------------------------------------


def test_the_detail_page_offers_cancel_for_an_own_queued_item_and_cancels_it(user_client, results_table, queue):
    _queued("q-1")
    page = user_client.get(reverse("dashboard:result_detail", args=["q-1"])).content.decode()
    assert reverse("dashboard:result_cancel", args=["q-1"]) in page

    response = user_client.post(reverse("dashboard:result_cancel", args=["q-1"]), {"reason": "wrong text"}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Cancelled: it will not be classified." in page
    assert "status-cancelled" in page and "Cancelled by alice: wrong text" in page
    assert reverse("dashboard:result_cancel", args=["q-1"]) not in page


def test_the_detail_page_says_when_it_is_too_late(user_client, results_table, queue):
    _done("d-1")
    response = user_client.post(reverse("dashboard:result_cancel", args=["d-1"]), follow=True)
    assert "Not cancelled" in response.content.decode() and "is done" in response.content.decode()


def test_another_users_item_cannot_be_cancelled_from_its_page(user_client, results_table, queue):
    _queued("bob-1", by="bob")
    assert (
        reverse("dashboard:result_cancel", args=["bob-1"])
        not in user_client.get(reverse("dashboard:result_detail", args=["bob-1"])).content.decode()
    )
    assert user_client.post(reverse("dashboard:result_cancel", args=["bob-1"])).status_code == 404
    assert user_client.post(reverse("dashboard:result_cancel", args=["nope"])).status_code == 404
    assert user_client.get(reverse("dashboard:result_cancel", args=["bob-1"])).status_code == 405
    assert dynamodb.item_get(item_id="bob-1")["status"] == "queued"


# --- the explorer -------------------------------------------------------------------------


def test_the_explorer_cancels_a_selection_and_leaves_the_rest(user_client, results_table, queue):
    _queued("a")
    _queued("bob-1", by="bob")
    _done("d-1")

    response = user_client.post(
        reverse("dashboard:results_actions"), {"action": "cancel", "ids": ["a", "bob-1", "d-1"]}, follow=True
    )

    assert "Cancelled 1 item(s). 2 finished, missing or other users&#x27; item(s) were left alone." in (
        response.content.decode()
    )
    assert [dynamodb.item_get(item_id=i)["status"] for i in ("a", "bob-1", "d-1")] == ["cancelled", "queued", "done"]
    event = AuditEvent.objects.get()
    assert (event.action, event.target, event.count) == ("cancel", "selection", 1)


def test_the_explorer_filters_by_cancelled_and_the_export_shows_it(user_client, user, results_table, queue):
    _queued("a")
    _queued("b")
    cancel.items_cancel(item_ids=["a"], user=user, reason="dup")

    page = user_client.get(reverse("dashboard:results"), {"status": "cancelled"}).content.decode()
    assert 'value="cancelled"' in page
    assert reverse("dashboard:result_detail", args=["a"]) in page
    assert reverse("dashboard:result_detail", args=["b"]) not in page
    response = user_client.get(reverse("dashboard:results_export"), {"status": "cancelled"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(r["id"], r["status"], r["cancelled_by"], r["cancel_reason"]) for r in rows] == [
        ("a", "cancelled", "alice", "dup")
    ]


# --- the batch page -----------------------------------------------------------------------


def test_the_batch_page_cancels_what_is_left_and_the_batch_completes(user_client, user, results_table, queue, settings):
    settings.BATCH_ENQUEUE_CHUNK = 2
    batch = services.batch_create(rows=parse_lines("one\ntwo\nthree").rows, source="paste", submitted_by=user)
    first = next(dynamodb.batch_items_iter(batch_id=batch.id))["id"]
    batch_items_finish(batch_id=batch.id)  # all done ...
    dynamodb.item_requeue(item_id=first)  # ... but one, queued again

    response = user_client.post(reverse("dashboard:batch_cancel", args=[batch.id]), {"reason": "enough"}, follow=True)

    page = response.content.decode()
    assert "Cancelled 1 queued or running item(s)." in page
    assert "1 cancelled" in page
    assert dynamodb.item_get(item_id=first)["status"] == "cancelled"
    batch.refresh_from_db()
    assert batch.completed_at is not None
    assert AuditEvent.objects.get(action="cancel").target == f"batch {batch.id}"


def test_another_users_batch_cannot_be_cancelled(client, django_user_model, user, results_table, queue):
    batch = services.batch_create(rows=parse_lines("one").rows, source="paste", submitted_by=user)
    client.force_login(django_user_model.objects.create_user(username="bob", password="correct horse battery"))

    assert client.post(reverse("dashboard:batch_cancel", args=[batch.id])).status_code == 404
    assert (
        'data-batch-action="cancel"'
        not in client.get(reverse("dashboard:batch_detail", args=[batch.id])).content.decode()
    )
    assert {item["status"] for item in dynamodb.batch_items_iter(batch_id=batch.id)} == {"queued"}
