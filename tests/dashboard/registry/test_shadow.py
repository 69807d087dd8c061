"""Shadow comparisons against real Redis, DynamoDB Local and the demo model: a candidate's answers kept
beside the items (nobody's results change), the report, the differing items, the API and the explorer."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.conf import settings as live_settings

from classifier import jobs
from classifier.engine import load_engine
from classifier.worker import worker_run
from dashboard.aws import dynamodb
from dashboard.labels import services as labels
from dashboard.queue import redis_connection
from dashboard.registry import services, shadow
from dashboard.registry.models import ShadowRun
from tests.dashboard.labels.support import done_item

pytestmark = pytest.mark.django_db

TEXTS = {
    "good-1": "A lovely stay: kind staff and a spotless room.",
    "good-2": "Wonderful food, we will be back.",
    "bad-1": "Filthy, cold and the staff were rude.",
    "bad-2": "The worst service I have ever had.",
}


@pytest.fixture
def items(results_table, staff, redis_conn):
    """Four done items that their model ("old@1") all called positive; people labelled three of them."""
    for item_id, text in TEXTS.items():
        done_item(item_id, label_name="positive", confidence=0.6, model="old@1")
        dynamodb.wire.call(
            "update_item",
            TableName=dynamodb.table_name(),
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "text"},
            ExpressionAttributeValues={":t": {"S": text}},
        )
    for item_id, truth in (("good-1", "positive"), ("bad-1", "negative"), ("bad-2", "negative")):
        labels.label_set(item_id=item_id, user=staff, label=truth)
    yield
    jobs.engine_set(None)


@pytest.fixture
def candidate(staff, demo_model_dir):
    return services.model_register(name="demo", source=str(demo_model_dir), user=staff)


def _work(serving=None) -> None:
    jobs.engine_set(serving)
    worker_run(queue_names=[live_settings.FINETUNE_QUEUE], connection=redis_connection(), engine=serving, burst=True)


def test_a_comparison_keeps_the_candidates_answers_beside_the_results_and_reports(
    items, candidate, staff, demo_model_dir
):
    before = dynamodb.items_get_many(item_ids=list(TEXTS))
    run = shadow.shadow_start(user=staff, version_id=candidate.id, item_ids=shadow.ids_labelled(), scope="labelled")
    serving = load_engine(str(demo_model_dir))
    serving.model_name = "old@1"

    _work(serving)
    run = shadow.shadow_sync(run)

    after = dynamodb.items_get_many(item_ids=list(TEXTS))
    assert run.status == "succeeded"
    for item_id in ("good-1", "bad-1", "bad-2"):
        item = after[item_id]
        assert {key: item[key] for key in dynamodb.ITEM_FIELDS} == {
            key: before[item_id][key] for key in dynamodb.ITEM_FIELDS
        }
        assert (item["shadow_run"], item["shadow_model"]) == (run.id, "demo@1")
        assert item["shadow_label_name"] in {"negative", "positive"} and item["shadow_ms"] > 0
    assert "shadow_run" not in after["good-2"]  # not labelled: not in this comparison
    report = shadow.shadow_report(run)
    differing = sorted(
        i for i in ("good-1", "bad-1", "bad-2") if after[i]["shadow_label_name"] != after[i]["label_name"]
    )
    assert (report["compared"], sorted(report["differing"]), report["labelled"]) == (3, differing, 3)
    assert report["current_right"] == 1  # "old@1" called all three positive; one was
    truth = {"good-1": "positive", "bad-1": "negative", "bad-2": "negative"}
    assert report["candidate_right"] == sum(after[i]["shadow_label_name"] == truth[i] for i in truth)
    assert report["candidate_ms_per_text"] > 0 and report["serving_ms_per_text"] > 0
    assert report["current_models"] == {"old@1": 3}


def test_the_report_page_and_the_differing_csv(client, items, candidate, staff):
    client.force_login(staff)
    response = client.post(f"/models/versions/{candidate.id}/shadow/", follow=True)
    run = ShadowRun.objects.get()
    assert 'data-status="queued"' in response.content.decode() and run.scope == "every labelled item"

    _work()
    page = client.get(f"/models/shadows/{run.id}/").content.decode()
    report = shadow.shadow_report(shadow.shadow_sync(run))
    assert f'<strong class="differ">{report["differ"]}</strong>' in page
    assert "no serving model beside the run" in page
    assert "(1 of 3)" in page  # the items' own model against the people's labels
    lines = list(
        csv.reader(
            io.StringIO(
                b"".join(client.get(f"/models/shadows/{run.id}/differing.csv").streaming_content).decode("utf-8-sig")
            )
        )
    )
    assert lines[0][:2] == ["id", "text"] and sorted(row[0] for row in lines[1:]) == sorted(report["differing"])


def test_the_explorer_compares_a_selection(client, items, candidate, staff):
    client.force_login(staff)
    assert 'value="shadow"' in client.get("/results/").content.decode()
    response = client.post(
        "/results/actions/",
        {"action": "shadow", "version": candidate.id, "ids": ["good-2", "bad-1"], "next": "/results/"},
    )
    run = ShadowRun.objects.get()
    assert response["Location"] == f"/models/shadows/{run.id}/"
    assert (run.scope, run.item_ids) == ("2 selected items", ["good-2", "bad-1"])


def test_the_api_starts_a_comparison_three_ways_and_refuses_the_rest(client, items, candidate, staff, user):
    from dashboard.services import api_token_create

    auth = {"Authorization": f"Bearer {api_token_create(user=staff, name='t')[1]}"}

    def post(body):
        return client.post(
            f"/api/v1/models/{candidate.id}/shadow",
            data=json.dumps(body),
            content_type="application/json",
            headers=auth,
        )

    assert post({"labelled": True}).json()["items"] == 3
    assert post({"ids": ["good-2"]}).json()["items"] == 1
    by_filter = post({"filter": {"model": "old@1"}})
    assert by_filter.status_code == 202 and by_filter.json()["items"] == 4
    assert post({"ids": ["a"], "labelled": True}).status_code == 400
    assert post({}).status_code == 400
    assert post({"filter": {"model": "nobody"}}).status_code == 400  # matches nothing
    assert (
        client.post(
            "/api/v1/models/nope@1/shadow", data='{"labelled": true}', content_type="application/json", headers=auth
        ).status_code
        == 404
    )
    _work()
    run_id = by_filter.json()["id"]
    report = client.get(f"/api/v1/shadows/{run_id}", headers=auth).json()
    assert (report["status"], report["compared"]) == ("succeeded", 4)
    user_auth = {"Authorization": f"Bearer {api_token_create(user=user, name='t')[1]}"}
    assert client.get(f"/api/v1/shadows/{run_id}", headers=user_auth).status_code == 403
    assert (
        client.post(
            f"/api/v1/models/{candidate.id}/shadow",
            data='{"labelled": true}',
            content_type="application/json",
            headers=user_auth,
        ).status_code
        == 403
    )


def test_a_candidate_that_does_not_load_fails_the_comparison_and_changes_nothing(items, staff, tmp_path):
    broken = services.model_register(name="broken", source=str(tmp_path / "missing"), user=staff)
    run = shadow.shadow_start(user=staff, version_id=broken.id, item_ids=list(TEXTS), scope="all")
    _work()
    run = shadow.shadow_sync(run)
    assert run.status == "failed" and "missing" in run.error
    assert all("shadow_run" not in item for item in dynamodb.items_get_many(item_ids=list(TEXTS)).values())
