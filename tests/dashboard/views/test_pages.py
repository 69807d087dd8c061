from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db


def _all_items():
    items, _ = dynamodb.items_page_newest(limit=100)
    return items


def test_submit_requires_login(client):
    response = client.get(reverse("dashboard:submit"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_it_stores_the_item_then_enqueues_a_job(user_client, results_table, queue):
    response = user_client.post(reverse("dashboard:submit"), {"text": "  What a wonderful film.  "})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:results")
    [item] = _all_items()
    assert item["text"] == "What a wonderful film."
    assert item["status"] == "queued"
    assert item["label"] is None and item["confidence"] is None and item["error"] is None
    assert item["submitted_by"] == "alice"
    [job] = queue.get_jobs()
    assert job.func_name == "classifier.jobs.classify_items"
    assert list(job.args) == [[item["id"]]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Text is empty"),
        ("   \n\t  ", "Text is empty"),
        ("x" * 5001, "the limit is 5,000"),
        ("bad \x00 byte", "Null characters are not allowed"),
        ("bell \x07 here", "control character (U+0007)"),
    ],
)
def test_it_rejects_bad_text_and_stores_nothing(user_client, results_table, queue, text, message):
    response = user_client.post(reverse("dashboard:submit"), {"text": text})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert _all_items() == []
    assert queue.count == 0


def test_the_limit_is_a_setting(user_client, results_table, queue, settings):
    settings.SUBMISSION_MAX_CHARS = 10
    response = user_client.post(reverse("dashboard:submit"), {"text": "eleven chars"})
    assert response.status_code == 400
    assert "the limit is 10" in response.content.decode()


def test_it_fails_the_item_visibly_when_the_queue_is_down(user_client, results_table, settings, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from dashboard import queue as queue_module

    class DownQueue:
        def enqueue(self, *args, **kwargs):
            raise RedisConnectionError("connection refused")

    monkeypatch.setattr(queue_module, "inference_queue", lambda: DownQueue())
    response = user_client.post(reverse("dashboard:submit"), {"text": "fine text"})

    assert response.status_code == 503
    assert "queue" in response.content.decode().lower()
    [item] = _all_items()
    assert item["status"] == "failed"
    assert "Redis" in item["error"]


def test_the_latest_results_show_the_created_date_and_time_with_a_space(user_client, results_table):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="dated", text="t", created_at="2026-12-01T18:18:28.123456Z"))

    page = user_client.get(reverse("dashboard:home")).content.decode()

    stamp = "2026-12-01T18:18:28.123456Z"
    assert f'<time datetime="{stamp}" title="{stamp}">2026-12-01 18:18:28</time>' in page
    assert "2026-12-0118:18:28" not in page
