"""The whole path with real processes: API → DynamoDB Local → Redis → `manage.py inference_worker`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.aws import dynamodb
from dashboard.services import api_token_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def worker_process(results_table, redis_conn, demo_model_dir, tmp_path):
    env = os.environ | {
        "DYNAMODB_TABLE": results_table,
        "CLASSIFIER_MODEL": str(demo_model_dir),
        "HF_HUB_OFFLINE": "1",
    }
    log = open(tmp_path / "worker.log", "w+b")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "inference_worker", "--name", "e2e-worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)
    log.seek(0)
    print(log.read().decode(errors="replace")[-3000:])
    log.close()


def test_a_submission_is_classified_by_the_real_worker(client, user, worker_process):
    _, token = api_token_create(user=user)
    headers = {"Authorization": f"Bearer {token}"}
    texts = {
        "This is wonderful, I love it!": "positive",
        "Absolutely awful. I hate it and want a refund.": "negative",
    }
    ids = {}
    for text, expected in texts.items():
        response = client.post("/api/v1/submissions", {"text": text}, content_type="application/json", headers=headers)
        assert response.status_code == 202
        ids[response.json()["id"]] = expected

    deadline = time.monotonic() + 180
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        assert worker_process.poll() is None, "the worker exited"
        for item_id in list(pending):
            if dynamodb.item_get(item_id=item_id)["status"] in {"done", "failed"}:
                pending.discard(item_id)
        time.sleep(0.3)
    assert not pending, "items were not classified in time"

    for item_id, expected in ids.items():
        body = client.get(f"/api/v1/submissions/{item_id}", headers=headers).json()
        assert body["status"] == "done"
        assert body["label_name"] == expected
        assert isinstance(body["label"], int)
        assert body["confidence"] > 0.5
