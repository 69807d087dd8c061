from __future__ import annotations

import csv
import io
import json
import os
import tracemalloc

import pytest
from django.urls import reverse

from dashboard import export
from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db

AWKWARD = [
    'commas, "quotes" and\nnewlines\r\nin one',
    "non-ASCII: café, naïve, 東京, emoji 🎉, RTL עברית",
    "plain",
]


def _rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:], newline="")))


def test_csv_export_round_trips_awkward_text(user_client, results_table):
    for n, text in enumerate(AWKWARD):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"e-{n}", text=text))
    response = user_client.get(reverse("dashboard:results_export"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = _rows(response)
    assert {row["id"]: row["text"] for row in rows} == {f"e-{n}": text for n, text in enumerate(AWKWARD)}
    assert list(rows[0]) == list(export.EXPORT_FIELDS)


def test_the_export_has_every_classs_probability_as_one_json_cell(user_client, results_table):
    probabilities = {"positive": 0.8765432109876543, "negative": 0.12345678901234567}
    for item_id in ("p-done", "p-queued"):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=item_id))
    dynamodb.item_claim(item_id="p-done", claimed_by="t")
    dynamodb.item_finish(
        item_id="p-done",
        status="done",
        claimed_by="t",
        label=1,
        label_name="positive",
        confidence=probabilities["positive"],
        probabilities=probabilities,
        model="m",
    )

    rows = {row["id"]: row for row in _rows(user_client.get(reverse("dashboard:results_export")))}

    cell = rows["p-done"]["probabilities"]
    assert json.loads(cell) == probabilities
    assert list(json.loads(cell)) == ["negative", "positive"]  # sorted, whatever order DynamoDB gives
    assert rows["p-queued"]["probabilities"] == ""


@pytest.mark.parametrize("dangerous", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_cells_that_start_a_formula_are_neutralised(dangerous):
    line = list(export.csv_lines([{"id": "a", "text": dangerous}], bom=False))[1]
    cells = next(csv.reader(io.StringIO(line, newline="")))
    assert cells[1] == "'" + dangerous


def test_export_applies_the_filter(client, staff, results_table):
    for n in range(6):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"f-{n}", text="wanted" if n % 2 else "other"))
    client.force_login(staff)
    rows = _rows(client.get(reverse("dashboard:results_export"), {"text": "wanted"}))
    assert sorted(row["id"] for row in rows) == ["f-1", "f-3", "f-5"]


def test_an_export_with_a_text_filter_reads_the_whole_table_so_it_needs_staff(user_client, results_table, monkeypatch):
    from dashboard import selectors

    for n in range(3):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"w-{n}", text="wanted"))
    read: list[object] = []
    real = selectors.explorer_iter
    monkeypatch.setattr(selectors, "explorer_iter", lambda **kwargs: read.append(kwargs) or real(**kwargs))

    response = user_client.get(reverse("dashboard:results_export"), {"text": "wanted", "status": "queued"})

    assert response.status_code == 403
    assert "A text filter reads every item in range" in response.content.decode()
    assert "only staff can download" in response.content.decode()
    assert read == [], "the scan must not start"
    assert (
        user_client.get(reverse("dashboard:results_export"), {"status": "queued"}).status_code == 200
    )  # an indexed filter


def test_the_explorer_says_which_exports_scan_the_whole_table(client, user, staff, results_table):
    client.force_login(user)
    plain = client.get(reverse("dashboard:results")).content.decode()
    assert 'class="button export-all"' in plain and "export-note" not in plain

    text = client.get(reverse("dashboard:results"), {"text": "wanted"}).content.decode()
    assert 'class="export-all" disabled' in text and 'class="button export-all"' not in text
    assert "this reads the whole table: staff only" in text

    client.force_login(staff)
    text = client.get(reverse("dashboard:results"), {"text": "wanted"}).content.decode()
    assert 'class="button export-all"' in text and "reads every item in the table" in text


def test_download_selected_exports_only_the_selection(user_client, results_table):
    for n in range(4):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"s-{n}", text=f"t{n}"))
    response = user_client.post(reverse("dashboard:results_actions"), {"action": "download", "ids": ["s-2", "s-0"]})
    assert [row["id"] for row in _rows(response)] == ["s-2", "s-0"]


def test_export_memory_stays_flat_while_streaming(results_table):
    items = [dynamodb.new_item(item_id=f"m-{n:05d}", text="x" * 400) for n in range(3000)]
    dynamodb.items_put_many(items=items)
    del items
    stream = export.csv_chunks(dynamodb.items_iter(item_filter=dynamodb.ItemFilter()))
    tracemalloc.start()
    rows = 0
    peak_after_first_chunk = None
    for chunk in stream:
        rows += chunk.count(b"\r\n")
        if peak_after_first_chunk is None:
            peak_after_first_chunk = tracemalloc.get_traced_memory()[1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rows == 3001
    # Everything held at once would be > 1.2 MB of text alone; one query page plus one chunk is far less.
    assert peak < 2.5 * max(peak_after_first_chunk, 1) + 512 * 1024, (peak, peak_after_first_chunk)


def test_export_fails_before_streaming_when_the_store_is_down(user_client, settings):
    settings.DYNAMODB_TABLE = "no-such-table"
    response = user_client.get(reverse("dashboard:results_export"))
    assert response.status_code == 503
    assert os.environ.get("DYNAMODB_ENDPOINT_URL")  # the real DynamoDB Local answered, the table did not
