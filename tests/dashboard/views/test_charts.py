from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from dashboard import selectors
from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_chart_series_count_submissions_completions_waiting_and_labels(results_table, settings, monkeypatch):
    monkeypatch.setattr(selectors, "model_labels", lambda: ["negative", "positive"])
    now = datetime.now(UTC)
    for n in range(3):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"q-{n}", text="waiting"))
    for n, label in enumerate(["positive", "positive", "negative"]):
        item = dynamodb.new_item(item_id=f"d-{n}", text="done", created_at=_iso(now - timedelta(minutes=5)))
        dynamodb.item_put_new(item=item)
        dynamodb.item_claim(item_id=item["id"], claimed_by="t")
        dynamodb.item_finish(
            item_id=item["id"],
            status="done",
            claimed_by="t",
            label=int(label == "positive"),
            label_name=label,
            confidence=0.9,
            model="m",
        )
    old = dynamodb.new_item(item_id="old", text="old", created_at=_iso(now - timedelta(days=2)))
    dynamodb.item_put_new(item=old)
    data = selectors.dashboard_charts(now=now)
    assert len(data["minutes"]) == len(data["submitted"]) == len(data["waiting"]) == 60
    assert sum(data["submitted"]) == 6
    assert data["submitted"][-6] == 3
    assert sum(data["completed"]) == 3
    assert data["waiting"][-1] == 3
    assert data["labels"] == {"negative": 1, "positive": 2}


def test_the_chart_endpoint_and_panel(user_client, results_table, redis_conn):
    data = user_client.get(reverse("dashboard:charts_data")).json()
    assert data["queue_jobs"] == 0 and set(data) >= {"minutes", "submitted", "completed", "waiting", "labels"}
    html = user_client.get(reverse("dashboard:home")).content.decode()
    assert 'id="charts-panel"' in html and "vendor/chartjs/chart.umd.min.js" in html


def test_the_chart_endpoint_reports_an_unreachable_store(user_client, settings):
    settings.DYNAMODB_TABLE = "no-such-table"
    response = user_client.get(reverse("dashboard:charts_data"))
    assert response.status_code == 503 and "cannot be read" in response.json()["error"]


_READ_IN_ANOTHER_PROCESS = (
    "import json, os\n"
    "from datetime import datetime\n"
    "from dashboard.views.charts import charts_payload\n"
    "print(json.dumps(charts_payload(now=datetime.fromisoformat(os.environ['CHARTS_NOW']))))\n"
)


@pytest.fixture
def store_reads(monkeypatch):
    """How many chart reads reach DynamoDB (the real reads still happen)."""
    reads: list[str] = []
    for name in ("items_created_since", "label_count_since"):
        real = getattr(dynamodb, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            reads.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(dynamodb, name, counting)
    return reads


def test_a_second_web_process_reads_the_charts_from_the_shared_cache(results_table, redis_conn, store_reads):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    now = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="q", text="waiting", created_at=_iso(now)))
    other = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", _READ_IN_ANOTHER_PROCESS],
        cwd=Path(__file__).resolve().parents[3],
        env=os.environ | {"DYNAMODB_TABLE": results_table, "CHARTS_NOW": now.isoformat()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0, other.stderr
    computed = json.loads(other.stdout)
    assert computed["submitted"][-1] == 1

    from dashboard.views.charts import charts_payload

    assert charts_payload(now=now) == computed
    assert store_reads == [], "this process read DynamoDB although another had just cached the charts"
    cache.clear()
    assert charts_payload(now=now) == computed
    assert "items_created_since" in store_reads


def test_charts_are_computed_when_the_shared_cache_is_down(user_client, results_table, settings, caplog):
    from django.test import override_settings

    from dashboard.devservices import free_port

    dynamodb.item_put_new(item=dynamodb.new_item(item_id="q", text="waiting"))
    # Restored before the cache is cleared at teardown (the `settings` fixture may be torn down later).
    down = {"default": settings.CACHES["default"] | {"LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    with override_settings(CACHES=down):  # nothing listens
        response = user_client.get(reverse("dashboard:charts_data"))

    assert response.status_code == 200
    assert sum(response.json()["submitted"]) == 1
    assert "chart cache unreadable" in caplog.text
