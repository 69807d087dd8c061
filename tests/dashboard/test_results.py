from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db


def _put(n: int, *, created_at: str | None = None, **fields) -> dict:
    item = dynamodb.new_item(item_id=f"item-{n:04d}", text=f"text number {n}", created_at=created_at)
    item.update(fields)
    dynamodb.item_put_new(item=item)
    return item


def test_results_require_login(client):
    assert client.get(reverse("results")).status_code == 302


def test_the_table_shows_the_row(user_client, results_table):
    _put(1)
    response = user_client.get(reverse("results"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "item-0001" in html
    assert "text number 1" in html
    assert "queued" in html


def test_an_empty_table_says_so(user_client, results_table):
    assert "No results yet" in user_client.get(reverse("results")).content.decode()


def test_it_lists_newest_first(user_client, results_table):
    _put(1, created_at="2026-01-05T10:00:00.000000Z")
    _put(2, created_at=dynamodb.now_iso())
    _put(3, created_at="2025-12-31T23:59:59.000000Z")
    items, _ = dynamodb.items_page_newest(limit=10)
    assert [item["id"] for item in items] == ["item-0002", "item-0001", "item-0003"]


def test_cursor_pages_visit_every_item_exactly_once(results_table):
    months = ["2026-11", "2026-10", "2026-08", "2025-03"]
    expected = set()
    for n in range(23):
        month = months[n % len(months)]
        expected.add(_put(n, created_at=f"{month}-0{1 + n % 9}T12:00:{n:02d}.000000Z")["id"])
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = dynamodb.items_page_newest(limit=5, cursor=cursor)
        seen.extend(item["id"] for item in items)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == expected


def test_a_done_item_shows_its_label_and_confidence(user_client, results_table):
    _put(7)
    dynamodb.item_claim(item_id="item-0007", claimed_by="t")
    dynamodb.item_finish(
        item_id="item-0007", status="done", claimed_by="t", label=1, label_name="positive", confidence=0.987, model="m"
    )
    html = user_client.get(reverse("results_table")).content.decode()
    assert "positive" in html
    assert "0.987" in html
    assert 'data-active="false"' in html


def test_text_is_escaped(user_client, results_table):
    item = dynamodb.new_item(item_id="xss", text="<script>alert(1)</script>")
    dynamodb.item_put_new(item=item)
    html = user_client.get(reverse("results")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_a_bad_cursor_falls_back_to_the_first_page(user_client, results_table):
    _put(1)
    html = user_client.get(reverse("results"), {"cursor": "garbage!!"}).content.decode()
    assert "no longer valid" in html
    assert "item-0001" in html


def test_the_detail_page_shows_all_fields(user_client, results_table):
    _put(3)
    html = user_client.get(reverse("result_detail", args=["item-0003"])).content.decode()
    assert "text number 3" in html and "queued" in html
    assert user_client.get(reverse("result_detail", args=["nope"])).status_code == 404


def test_an_unreachable_store_shows_a_banner(user_client, settings):
    settings.DYNAMODB_TABLE = "no-such-table"
    response = user_client.get(reverse("results"))
    assert response.status_code == 200
    assert "cannot be read right now" in response.content.decode()


def test_health_endpoints(client, results_table, redis_conn):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok", "dynamodb": "ok"}
