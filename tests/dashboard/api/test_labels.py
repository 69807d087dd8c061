"""`PUT|DELETE /api/v1/submissions/<id>/label`, `POST /labels`, `GET /labels.csv` and a model's evaluation."""

from __future__ import annotations

import csv
import io
import json

import pytest

from dashboard import ratelimit
from dashboard.aws import dynamodb
from dashboard.labels.models import HumanLabel
from tests.dashboard.labels.support import done_item, queued_item

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits(user, redis_conn):
    yield
    ratelimit.submissions_reset(user=user)


def _put(client, item_id: str, auth, body) -> object:
    return client.put(
        f"/api/v1/submissions/{item_id}/label", data=json.dumps(body), content_type="application/json", headers=auth
    )


def test_put_sets_the_label_and_answers_with_the_item(client, auth, results_table):
    done_item("d-1", label_name="positive")

    response = _put(client, "d-1", auth, {"label": "negative"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(dynamodb.ITEM_FIELDS)
    assert (body["human_label"], body["human_label_name"], body["labelled_by"]) == (0, "negative", "alice")
    assert client.get("/api/v1/submissions/d-1", headers=auth).json()["human_label_name"] == "negative"


def test_put_takes_the_label_id(client, auth, results_table):
    done_item("d-1")
    assert _put(client, "d-1", auth, {"label": 1}).json()["human_label_name"] == "positive"


def test_put_refuses_a_bad_label_or_body_with_a_clear_error(client, auth, results_table):
    done_item("d-1")
    unknown = _put(client, "d-1", auth, {"label": "neutral"})
    assert unknown.status_code == 400 and "use 0 or 'negative', 1 or 'positive'" in unknown.json()["error"]
    assert unknown.json()["fields"] == {"label": unknown.json()["error"]}
    assert _put(client, "d-1", auth, {}).status_code == 400
    assert _put(client, "d-1", auth, {"label": "negative", "by": "x"}).status_code == 400
    assert _put(client, "d-1", auth, {"label": [1]}).status_code == 400
    assert _put(client, "d-1", auth, "negative").status_code == 400
    not_json = client.put("/api/v1/submissions/d-1/label", data="label=1", content_type="text/plain", headers=auth)
    assert not_json.status_code == 415
    assert dynamodb.item_get(item_id="d-1")["human_label"] is None


def test_a_queued_item_is_a_409_and_an_unknown_one_a_404(client, auth, results_table):
    queued_item("q-1")
    assert _put(client, "q-1", auth, {"label": 0}).status_code == 409
    assert _put(client, "nope", auth, {"label": 0}).json() == {"error": "No submission with that id."}
    assert _put(client, "bad%20id", auth, {"label": 0}).status_code == 404


def test_delete_takes_the_label_off(client, auth, results_table):
    done_item("d-1")
    _put(client, "d-1", auth, {"label": 0})

    response = client.delete("/api/v1/submissions/d-1/label", headers=auth)

    assert response.status_code == 200 and response.json()["human_label"] is None
    assert not HumanLabel.objects.exists()


def test_the_label_route_needs_a_login_and_refuses_other_methods(client, auth, results_table):
    done_item("d-1")
    assert client.put("/api/v1/submissions/d-1/label", data="{}", content_type="application/json").status_code == 401
    assert client.post("/api/v1/submissions/d-1/label", headers=auth).status_code == 405
    assert client.get("/api/v1/submissions/d-1/label", headers=auth).status_code == 404  # no id has a slash


def test_labels_are_rate_limited_with_retry_after(client, auth, results_table, settings):
    settings.LABELS_PER_MINUTE = 1
    done_item("d-1")
    done_item("d-2")
    assert _put(client, "d-1", auth, {"label": 0}).status_code == 200
    refused = _put(client, "d-2", auth, {"label": 0})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_post_labels_labels_a_selection(client, auth, results_table):
    done_item("d-1")
    done_item("d-2")
    queued_item("q-1")

    response = client.post(
        "/api/v1/labels",
        data=json.dumps({"ids": ["d-1", "d-2", "q-1"], "label": "negative"}),
        content_type="application/json",
        headers=auth,
    )

    assert response.status_code == 200 and response.json() == {"labelled": 2, "left": 1}
    bad = client.post(
        "/api/v1/labels", data=json.dumps({"ids": ["a b"], "label": 0}), content_type="application/json", headers=auth
    )
    assert bad.status_code == 400


def test_the_evaluation_counts_the_labels(client, auth, results_table):
    for n, (said, truth) in enumerate([("positive", "positive"), ("positive", "negative"), ("negative", "negative")]):
        done_item(f"d-{n}", label_name=said, confidence=0.9)
        _put(client, f"d-{n}", auth, {"label": truth})

    body = client.get("/api/v1/models/m/evaluation", headers=auth).json()

    assert (body["labelled"], body["correct"]) == (3, 2)
    assert body["accuracy"] == pytest.approx(2 / 3)
    assert body["confusion_matrix"] == {
        "negative": {"negative": 1, "positive": 1},
        "positive": {"negative": 0, "positive": 1},
    }
    assert body["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert client.get("/api/v1/models/nobody/evaluation", headers=auth).json()["labelled"] == 0


def test_a_model_named_with_a_slash_has_an_evaluation(client, auth, results_table):
    done_item("d-1", model="org/xlnet-v2")
    _put(client, "d-1", auth, {"label": "positive"})
    assert client.get("/api/v1/models/org/xlnet-v2/evaluation", headers=auth).json()["labelled"] == 1


def test_labels_csv_is_a_training_file(client, auth, results_table):
    done_item("d-1", label_name="positive")
    done_item("d-2", label_name="positive", model="other")
    _put(client, "d-1", auth, {"label": "negative"})
    _put(client, "d-2", auth, {"label": "positive"})

    everything = client.get("/api/v1/labels.csv", headers=auth)
    one_model = client.get("/api/v1/labels.csv?model=other", headers=auth)

    rows = list(csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode())))
    assert rows == [
        {"text": "text of d-1", "label": "0", "label_name": "negative"},
        {"text": "text of d-2", "label": "1", "label_name": "positive"},
    ]
    assert b"".join(one_model.streaming_content).decode().splitlines()[1:] == ["text of d-2,1,positive"]
