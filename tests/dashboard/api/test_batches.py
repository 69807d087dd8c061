"""POST /api/v1/batches and the batch's progress and results: texts, items with ids, CSV, multipart."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard.aws import dynamodb
from tests.dashboard.batch_support import batch_items_finish, items_table_is_empty

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capacity_on")]


def test_the_api_accepts_texts_and_reports_progress(client, auth, results_table, queue):
    response = client.post(
        "/api/v1/batches", {"texts": ["one", "two", "three"]}, content_type="application/json", headers=auth
    )
    assert response.status_code == 202
    body = response.json()
    assert body["total"] == 3 and body["status"] == "running" and body["counts"]["queued"] == 3
    assert response["Location"] == body["url"] == f"/api/v1/batches/{body['id']}"
    progress = client.get(body["url"], headers=auth).json()
    assert progress["counts"] == {"queued": 3, "running": 0, "done": 0, "failed": 0, "cancelled": 0}
    batch_items_finish(batch_id=body["id"])
    progress = client.get(body["url"], headers=auth).json()
    assert progress["status"] == "complete" and progress["percent"] == 100.0
    csv_body = b"".join(client.get(progress["results_csv"], headers=auth).streaming_content).decode()
    assert csv_body.count("positive") == 3


def test_the_api_accepts_items_with_ids_and_csv(client, auth, results_table, queue):
    response = client.post(
        "/api/v1/batches", {"items": [{"id": "mine-1", "text": "hello"}]}, content_type="application/json", headers=auth
    )
    assert response.status_code == 202
    assert dynamodb.item_get(item_id="mine-1")["batch_id"] == response.json()["id"]
    response = client.post("/api/v1/batches", b"text\r\nfrom csv\r\n", content_type="text/csv", headers=auth)
    assert response.status_code == 202 and response.json()["total"] == 1
    upload = SimpleUploadedFile("t.csv", b"text\r\nfrom multipart\r\n", content_type="text/csv")
    response = client.post("/api/v1/batches", {"file": upload}, headers=auth)
    assert response.status_code == 202 and response.json()["filename"] == "t.csv"


def test_the_api_lists_every_bad_row_and_stores_nothing(client, auth, results_table, queue):
    response = client.post(
        "/api/v1/batches", {"texts": ["ok", "", 5, "x" * 6000]}, content_type="application/json", headers=auth
    )
    assert response.status_code == 400
    assert [problem["row"] for problem in response.json()["problems"]] == [2, 3, 4]
    assert items_table_is_empty() and queue.count == 0


def test_the_api_requires_auth_and_knows_unknown_batches(client, auth, results_table):
    assert client.post("/api/v1/batches", {"texts": ["a"]}, content_type="application/json").status_code == 401
    assert client.get("/api/v1/batches/nope", headers=auth).status_code == 404
    response = client.post("/api/v1/batches", "text", content_type="text/plain", headers=auth)
    assert response.status_code == 415
