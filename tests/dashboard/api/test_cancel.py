"""`POST /api/v1/submissions/<id>/cancel`, `/batches/<id>/cancel` and `/requeue`, checked against the document."""

from __future__ import annotations

import json

import pytest

from dashboard import ratelimit, services
from dashboard.aws import dynamodb
from dashboard.csv_upload import parse_lines
from dashboard.models import AuditEvent
from tests.dashboard.batch_support import batch_items_finish

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capacity_on")]


def _queued(item_id: str, *, by: str = "alice") -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}") | {"submitted_by": by})


def _failed(item_id: str, *, by: str = "alice") -> None:
    _queued(item_id, by=by)
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    dynamodb.item_finish(item_id=item_id, status="failed", claimed_by="t", error="bad", model="m")


def _post(client, path: str, auth, body=None):
    if body is None:
        return client.post(path, headers=auth)
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=auth)


def test_cancel_answers_200_with_the_cancelled_item(client, auth, results_table, queue):
    _queued("q-1")

    response = _post(client, "/api/v1/submissions/q-1/cancel", auth, {"reason": "sent by mistake"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(dynamodb.ITEM_FIELDS)
    assert (body["status"], body["error"]) == ("cancelled", "Cancelled by alice: sent by mistake")
    assert client.get("/api/v1/submissions/q-1", headers=auth).json()["status"] == "cancelled"


def test_cancel_takes_no_body_too(client, auth, results_table, queue):
    _queued("q-1")
    response = _post(client, "/api/v1/submissions/q-1/cancel", auth)
    assert response.status_code == 200 and response.json()["error"] == "Cancelled by alice."


def test_cancelling_a_finished_item_is_a_409(client, auth, results_table, queue):
    _failed("f-1")
    _queued("q-1")
    _post(client, "/api/v1/submissions/q-1/cancel", auth)

    failed = _post(client, "/api/v1/submissions/f-1/cancel", auth)
    again = _post(client, "/api/v1/submissions/q-1/cancel", auth)

    assert failed.status_code == 409 and "is failed" in failed.json()["error"]
    assert again.status_code == 409 and "is cancelled" in again.json()["error"]


def test_an_unknown_or_another_users_item_is_a_404(client, auth, results_table, queue):
    _queued("bob-1", by="bob")

    for item_id in ("nope", "bob-1", "bad%20id"):
        response = _post(client, f"/api/v1/submissions/{item_id}/cancel", auth)
        assert response.status_code == 404, item_id
        assert response.json() == {"error": "No submission with that id."}
    assert dynamodb.item_get(item_id="bob-1")["status"] == "queued"


def test_cancel_refuses_a_bad_body_and_other_methods(client, auth, results_table, queue):
    _queued("q-1")
    assert _post(client, "/api/v1/submissions/q-1/cancel", auth, {"reason": 3}).status_code == 400
    assert _post(client, "/api/v1/submissions/q-1/cancel", auth, {"why": "x"}).status_code == 400
    assert client.put("/api/v1/submissions/q-1/cancel", headers=auth).status_code == 405
    assert client.post("/api/v1/submissions/q-1/cancel").status_code == 401
    assert dynamodb.item_get(item_id="q-1")["status"] == "queued"


def test_a_batch_is_cancelled_and_then_has_nothing_left_to_cancel(client, auth, user, results_table, queue):
    batch = services.batch_create(rows=parse_lines("one\ntwo\nthree").rows, source="api", submitted_by=user)

    response = _post(client, f"/api/v1/batches/{batch.id}/cancel", auth, {"reason": "wrong file"})

    assert response.status_code == 200
    body = response.json()
    assert (body["cancelled"], body["left"], body["status"]) == (3, 0, "complete")
    assert body["counts"] == {"queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 3}
    assert (body["finished"], body["percent"]) == (3, 100.0)
    assert queue.count == 0
    second = _post(client, f"/api/v1/batches/{batch.id}/cancel", auth)
    assert second.status_code == 409 and "nothing queued or running" in second.json()["error"]


def test_an_unknown_or_another_users_batch_is_a_404(client, auth, django_user_model, results_table, queue):
    bob = django_user_model.objects.create_user(username="bob", password="correct horse battery")
    batch = services.batch_create(rows=parse_lines("one").rows, source="api", submitted_by=bob)

    assert _post(client, f"/api/v1/batches/{batch.id}/cancel", auth).status_code == 404
    assert _post(client, "/api/v1/batches/nope/cancel", auth).status_code == 404
    assert {item["status"] for item in dynamodb.batch_items_iter(batch_id=batch.id)} == {"queued"}


# --- requeue ------------------------------------------------------------------------------


def test_requeue_by_filter_takes_only_failed_items_that_match(client, auth, results_table, queue):
    _failed("f-1")
    _failed("f-2")
    _queued("q-1")
    dynamodb.item_claim(item_id="q-1", claimed_by="t")
    dynamodb.item_finish(item_id="q-1", status="done", claimed_by="t", label=1, label_name="positive", model="m")

    response = _post(client, "/api/v1/requeue", auth, {"filter": {"model": "m"}})

    assert response.status_code == 202
    assert response.json() == {
        "queued": 2,
        "skipped": 0,
        "more": False,
        "limit": 1000,
        "message": "Requeued 2 failed item(s).",
    }
    assert [dynamodb.item_get(item_id=i)["status"] for i in ("f-1", "f-2", "q-1")] == ["queued", "queued", "done"]
    assert sorted(i for job in queue.get_jobs() for i in job.args[0]) == ["f-1", "f-2"]
    event = AuditEvent.objects.get(action="requeue")
    assert (event.target, event.count, event.outcome) == ("filter status=failed, model=m", 2, "ok")


def test_requeue_is_bounded_and_says_when_more_match(client, auth, results_table, queue, settings):
    settings.REQUEUE_MAX_ITEMS = 2
    for n in range(3):
        _failed(f"f-{n}")

    first = _post(client, "/api/v1/requeue", auth, {"filter": {}})
    second = _post(client, "/api/v1/requeue", auth, {"filter": {}})

    assert (first.json()["queued"], first.json()["more"]) == (2, True)
    assert "at most 2 are requeued per request" in first.json()["message"]
    assert (second.json()["queued"], second.json()["more"]) == (1, False)
    assert {dynamodb.item_get(item_id=f"f-{n}")["status"] for n in range(3)} == {"queued"}


def test_requeue_by_batch_reopens_the_batch(client, auth, user, results_table, queue):
    batch = services.batch_create(rows=parse_lines("one\ntwo").rows, source="api", submitted_by=user)
    first = next(dynamodb.batch_items_iter(batch_id=batch.id))["id"]
    queue.empty()
    batch_items_finish(batch_id=batch.id, fail={first})
    services.batch_progress(batch=batch)
    batch.refresh_from_db()
    assert batch.completed_at is not None

    response = _post(client, "/api/v1/requeue", auth, {"batch_id": batch.id})

    assert response.status_code == 202 and response.json()["queued"] == 1
    assert [job.args[0] for job in queue.get_jobs()] == [[first]]
    progress = client.get(f"/api/v1/batches/{batch.id}", headers=auth).json()
    assert (progress["status"], progress["counts"]["queued"], progress["counts"]["done"]) == ("running", 1, 1)


def test_requeue_refuses_bad_requests(client, auth, results_table, queue, django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="correct horse battery")
    batch = services.batch_create(rows=parse_lines("one").rows, source="api", submitted_by=bob)
    cases = [
        ({}, 400),
        ({"batch_id": "x", "filter": {}}, 400),
        ({"filter": {"status": "done"}}, 400),
        ({"filter": {"created_from": "yesterday"}}, 400),
        ({"filter": {"text": "slow"}}, 403),  # a text filter reads the whole table: staff only
        ({"batch_id": "nope"}, 404),
        ({"batch_id": batch.id}, 404),  # bob's
    ]
    for body, status in cases:
        response = _post(client, "/api/v1/requeue", auth, body)
        assert response.status_code == status, (body, response.content)
    assert client.post("/api/v1/requeue", data="x", content_type="text/plain", headers=auth).status_code == 415
    assert not AuditEvent.objects.filter(action="requeue").exists()


def test_requeue_is_charged_per_item_and_refused_over_the_limit(client, auth, user, results_table, queue, settings):
    settings.SUBMISSIONS_PER_MINUTE = 5  # a burst of 5 items at once
    settings.REQUEUE_MAX_ITEMS = 3
    ratelimit.submissions_reset(user=user)
    for n in range(6):
        _failed(f"f-{n}")

    assert _post(client, "/api/v1/requeue", auth, {"filter": {}}).status_code == 202
    refused = _post(client, "/api/v1/requeue", auth, {"filter": {}})

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert sorted(dynamodb.item_get(item_id=f"f-{n}")["status"] for n in range(6)) == ["failed"] * 3 + ["queued"] * 3
    outcomes = list(AuditEvent.objects.filter(action="requeue").order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["ok", "refused"]
    ratelimit.submissions_reset(user=user)
