"""The bulk submission pages: upload or paste a batch, follow its progress, download its results."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dashboard import csv_upload
from dashboard.aws import dynamodb
from dashboard.models import Batch
from tests.dashboard.batch_support import batch_items_finish, items_table_is_empty

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capacity_on")]


def _upload(client, content: bytes, name: str = "texts.csv"):
    return client.post(
        reverse("dashboard:batch_new"), {"file": SimpleUploadedFile(name, content, content_type="text/csv")}
    )


def test_a_csv_upload_is_stored_enqueued_in_chunks_and_followed(user_client, results_table, queue, settings):
    settings.BATCH_ENQUEUE_CHUNK = 4
    rows = "".join(f'"text, number {n}"\r\n' for n in range(10))
    response = _upload(user_client, ("\ufefftext\r\n" + rows).encode())
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert response["Location"] == reverse("dashboard:batch_detail", args=[batch.id])
    assert batch.total == 10 and batch.source == "csv" and batch.filename == "texts.csv"
    jobs = queue.get_jobs()
    assert [len(job.args[0]) for job in jobs] == [4, 4, 2]
    texts = [item["text"] for item in dynamodb.batch_items_iter(batch_id=batch.id)]
    assert texts == [f"text, number {n}" for n in range(10)]
    html = user_client.get(reverse("dashboard:batch_detail", args=[batch.id])).content.decode()
    assert "0.0%" in html and "10 queued" in html and "every 2s" in html


def test_batch_progress_reaches_100_percent_and_offers_the_results(user_client, results_table, queue):
    response = user_client.post(reverse("dashboard:batch_new"), {"lines": "good one\n\nbad one\nanother good one\n"})
    batch = Batch.objects.get()
    assert response.status_code == 302 and batch.total == 3 and batch.source == "paste"
    failing = {item["id"] for item in dynamodb.batch_items_iter(batch_id=batch.id) if item["text"] == "bad one"}
    batch_items_finish(batch_id=batch.id, fail=failing)
    html = user_client.get(reverse("dashboard:batch_detail", args=[batch.id]), HTTP_HX_REQUEST="true").content.decode()
    assert html.startswith('<div id="batch-progress"')
    assert "100.0%" in html and "2 done" in html and "1 failed" in html
    assert "every 2s" not in html and "Download results" in html
    batch.refresh_from_db()
    assert batch.completed_at is not None and batch.counts["done"] == 2
    body = b"".join(user_client.get(reverse("dashboard:batch_download", args=[batch.id])).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"), newline="")))
    assert [(row["text"], row["status"]) for row in rows] == [
        ("good one", "done"),
        ("bad one", "failed"),
        ("another good one", "done"),
    ]


def test_a_csv_with_bad_rows_is_rejected_with_a_report_and_nothing_stored(user_client, results_table, queue):
    content = (
        "id,text\r\n"
        "a-1,fine\r\n"
        "a-2,\r\n"  # row 3: empty text
        "bad id!,hello\r\n"  # row 4: invalid id
        "\r\n"  # row 5: blank row
        "a-1,again\r\n"  # row 6: repeated id
        'a-7,"multi\nline is fine"\r\n'
        f"a-8,{'x' * 6000}\r\n"  # row 8: too long
    ).encode()
    response = _upload(user_client, content)
    html = response.content.decode()
    assert response.status_code == 400
    parsed = csv_upload.parse_csv(content)
    assert [row for row, _ in parsed.problems] == [3, 4, 5, 6, 8]
    for fragment in ("Text is empty", "is not valid", "The row is empty", "repeats row 2", "the limit is 5,000"):
        assert fragment in html
    assert "Nothing was submitted" in html
    assert items_table_is_empty() and not Batch.objects.exists() and queue.count == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"texte\r\nbonjour\r\n", "no &#x27;text&#x27; column"),
        ("text\r\ncaf\xe9\r\n".encode("latin-1"), "not UTF-8: byte 0xE9 on line 2"),
        (b"", "The submitted file is empty"),
        (b"text\r\n", "no rows to submit"),
    ],
)
def test_unusable_files_are_explained(user_client, results_table, content, message):
    response = _upload(user_client, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert items_table_is_empty()


def test_size_and_row_limits_are_enforced(user_client, results_table, settings):
    settings.BATCH_MAX_ROWS = 3
    response = _upload(user_client, b"text\r\na\r\nb\r\nc\r\nd\r\n")
    assert "There are 4 rows; one batch takes at most 3" in response.content.decode()
    settings.BATCH_MAX_BYTES = 1024
    response = _upload(user_client, b"text\r\n" + b"y" * 2000 + b"\r\n")
    assert "the limit is 1,024" in response.content.decode()
    assert items_table_is_empty()


def test_ids_that_already_exist_reject_the_whole_batch(user_client, results_table):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="taken", text="old"))
    response = _upload(user_client, b"id,text\r\nfresh,new\r\ntaken,new\r\n")
    html = response.content.decode()
    assert response.status_code == 409 and "1 id(s) already exist" in html and "id &#x27;taken&#x27;" in html
    assert dynamodb.item_get(item_id="taken")["text"] == "old"
    assert dynamodb.items_get_many(item_ids=["fresh"]) == {}


def test_a_failed_enqueue_leaves_nothing_stored(user_client, results_table):
    from unittest import mock

    from dashboard.exceptions import QueueUnavailable

    with mock.patch("dashboard.services.classify_enqueue", side_effect=QueueUnavailable("Redis is down")):
        response = user_client.post(reverse("dashboard:batch_new"), {"lines": "one\ntwo\n"})
    assert response.status_code == 503 and "Nothing was submitted" in response.content.decode()
    assert items_table_is_empty() and not Batch.objects.exists()
