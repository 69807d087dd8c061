"""Bad input of every kind gets a clear 4xx or form error, nothing is stored half-way, and the site keeps serving.

Kinds already covered elsewhere (not repeated here): empty, whitespace-only, over the length limit, NUL
and control characters in the form (views/test_pages.py) and the API (api/test_submissions.py),
malformed JSON, wrong types and extra fields for single submissions (api/test_submissions.py), CSV rows
with problems, latin-1 uploads and missing columns in the upload form (views/test_batches.py), formula
cells in the CSV writer (test_export.py).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from dashboard.aws import dynamodb
from dashboard.models import Batch
from dashboard.services import api_token_create

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
RTL_AND_EMOJI = "השירות היה מצוין ומהיר 👍🎉 — الخدمة كانت ممتازة"


@pytest.fixture
def api(client, user):
    _, raw = api_token_create(user=user)
    headers = {"Authorization": f"Bearer {raw}"}

    def call(method: str, path: str, body=None, content_type: str = "application/json"):
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        kwargs = {"content_type": content_type} if method == "post" else {}
        return getattr(client, method)(path, body, headers=headers, **kwargs)

    return call


def _nothing_stored(queue) -> bool:
    return dynamodb.items_page_newest(limit=5)[0] == [] and queue.count == 0 and not Batch.objects.exists()


def _still_serving(client, api) -> None:
    assert client.get("/healthz").status_code == 200
    assert api("post", "/api/v1/submissions", {"text": "still here"}).status_code == 202


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("text\r\ncaf\xe9\r\n".encode("latin-1"), "text/csv", 400, "not UTF-8"),  # invalid UTF-8 upload
        (b"\xff\xfe\x00t\x00e\x00x\x00t", "text/csv", 400, "not UTF-8"),  # UTF-16 is not UTF-8 either
        (b"texte,id\r\nbonjour,1\r\n", "text/csv", 400, "column"),  # CSV without the text column
        (b"", "text/csv", 415, "Send"),  # an empty body has no content type to speak of
        ({"texts": "not a list"}, "application/json", 400, "'texts' must be a list"),  # wrong JSON types
        ({"texts": [1, None, ["x"]]}, "application/json", 400, "Text must be a string"),
        (
            {"items": [{"id": "a", "text": "x", "label": 1}]},
            "application/json",
            400,
            "Unknown field(s) in the item: label",
        ),
        ({"items": ["just a string"]}, "application/json", 400, "Each item must be an object"),
        ({"texts": ["ok"], "priority": "high"}, "application/json", 400, "Unknown field(s): priority"),
        ({"items": [{"id": "../../etc/passwd", "text": "x"}]}, "application/json", 400, "id is not valid"),
        ({"items": [{"id": "a/b", "text": "x"}]}, "application/json", 400, "id is not valid"),
        ({"texts": ["fine", "bad \u0000 nul"]}, "application/json", 400, "control character (U+0000)"),
        ('{"texts": ["\\ud800 lone surrogate"]}', "application/json", 400, "lone surrogate"),
        ("{truncated", "application/json", 400, "not valid JSON"),
    ],
)
def test_bad_batches_are_refused_whole(client, api, results_table, queue, body, content_type, status, message):
    response = api("post", "/api/v1/batches", body, content_type=content_type)

    assert response.status_code == status, response.content
    assert message in response.json()["error"] + json.dumps(response.json().get("problems", []))
    assert _nothing_stored(queue)
    _still_serving(client, api)


def test_a_huge_csv_is_refused_before_it_is_read(client, api, results_table, queue, settings):
    settings.BATCH_MAX_BYTES = 64 * 1024
    huge = b"text\r\n" + b"".join(f"row number {n} {'x' * 90}\r\n".encode() for n in range(20_000))  # ~2 MB

    response = api("post", "/api/v1/batches", huge, content_type="text/csv")

    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert _nothing_stored(queue)
    _still_serving(client, api)


def test_a_huge_json_body_is_refused_not_a_500(client, api, results_table, queue, settings):
    response = api("post", "/api/v1/submissions", {"text": "y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})

    assert response.status_code == 413
    assert response.json()["error"].startswith("The body is larger than")
    assert _nothing_stored(queue)
    _still_serving(client, api)


@pytest.mark.parametrize(
    "item_id", ["../../etc/passwd", "..%2F..%2Fetc", "a/b/c", "%00", "x" * 300, "id with spaces", "<b>"]
)
def test_ids_with_path_characters_are_404_everywhere(client, user_client, api, results_table, item_id):
    assert api("get", f"/api/v1/submissions/{item_id}").status_code == 404
    assert user_client.get(f"/results/{item_id}/").status_code == 404
    assert api("get", f"/api/v1/batches/{item_id}").status_code == 404
    assert user_client.get(f"/batches/{item_id}/").status_code == 404


def test_unknown_ids_are_404_not_500(user_client, api, results_table):
    assert api("get", "/api/v1/submissions/0123456789abcdef0123456789abcdef").status_code == 404
    assert user_client.get("/results/0123456789abcdef0123456789abcdef/").status_code == 404
    assert api("get", "/api/v1/batches/0123456789abcdef0123456789abcdef").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "cursor=not-base64!!",
        "cursor=eyJmIjoiIn0",  # valid base64 JSON of the wrong shape
        "limit=abc",
        "limit=-5",
        "limit=100000",
        "created_from=yesterday",
        "status=exploded",
        "label=%00",
        "q=" + "z" * 10_000,
    ],
)
def test_bad_explorer_parameters_never_break_the_page(user_client, results_table, query):
    response = user_client.get(f"/results/?{query}")
    assert response.status_code in {200, 400}
    assert user_client.get(f"/results/table/?{query}").status_code in {200, 400}
    assert user_client.get(f"/results/export.csv?{query}").status_code in {200, 400}


def test_html_and_script_are_shown_as_text_everywhere(user_client, api, results_table, queue):
    item_id = api("post", "/api/v1/submissions", {"text": XSS}).json()["id"]
    assert dynamodb.item_get(item_id=item_id)["text"] == XSS  # stored as given, escaped when shown

    for path in ("/", "/results/", "/results/table/", f"/results/{item_id}/"):
        html = user_client.get(path).content.decode()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html, path
        assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", ""), path
    assert api("get", f"/api/v1/submissions/{item_id}").json()["text"] == XSS  # JSON is data, not markup


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://evil","x")', "+1+1", "-1+1", "@SUM(A1)", "\t=1"])
def test_exported_csv_cells_never_start_a_formula(user_client, api, results_table, queue, formula):
    item_id = api("post", "/api/v1/submissions", {"text": f"{formula} trailing"}).json()["id"]

    body = b"".join(user_client.get("/results/export.csv").streaming_content).decode("utf-8").lstrip("\ufeff")
    [row] = [row for row in csv.DictReader(io.StringIO(body, newline="")) if row["id"] == item_id]

    assert row["text"][0] not in "=+-@\t\r"
    assert row["text"].endswith(f"{formula.strip()} trailing") or formula.strip() in row["text"]


def test_right_to_left_and_emoji_text_round_trips(user_client, api, results_table, queue):
    item_id = api("post", "/api/v1/submissions", {"text": RTL_AND_EMOJI}).json()["id"]

    assert api("get", f"/api/v1/submissions/{item_id}").json()["text"] == RTL_AND_EMOJI
    assert RTL_AND_EMOJI in user_client.get(f"/results/{item_id}/").content.decode()


def test_a_very_long_single_token_is_accepted_at_the_limit(api, results_table, queue, settings):
    token = "a" * settings.SUBMISSION_MAX_CHARS
    assert api("post", "/api/v1/submissions", {"text": token}).status_code == 202
    assert api("post", "/api/v1/submissions", {"text": token + "a"}).status_code == 400


def test_long_tokens_rtl_and_emoji_are_classified_fine(engine, settings):
    texts = ["a" * settings.SUBMISSION_MAX_CHARS, RTL_AND_EMOJI, "🎉" * 2000, XSS, "x\u200f\u202e reversed"]

    outcomes = engine.predict_safe(texts)

    assert len(outcomes) == len(texts)
    for outcome in outcomes:
        assert not isinstance(outcome, Exception), outcome
        assert outcome.label in (0, 1) and 0.0 <= outcome.confidence <= 1.0


def test_the_form_shows_errors_for_bad_input_and_keeps_serving(user_client, client, api, results_table, queue):
    for text in ("", " \t\n", "\x00", "x" * 10_000):
        response = user_client.post(reverse("dashboard:submit"), {"text": text})
        assert response.status_code == 400
        assert 'role="alert"' in response.content.decode()
    assert _nothing_stored(queue)
    _still_serving(client, api)


def test_a_lone_surrogate_is_refused_by_the_single_submission_api_too(api, results_table, queue):
    response = api("post", "/api/v1/submissions", '{"text": "broken \\udc80 text"}')

    assert response.status_code == 400
    assert "lone surrogate, U+DC80" in response.json()["error"]
    assert _nothing_stored(queue)


def test_a_content_length_that_is_not_a_number_is_a_400_on_the_batch_api(user_client, results_table, redis_conn):
    response = user_client.post(
        reverse("api_batches"), b'{"texts": ["a"]}', content_type="application/json", CONTENT_LENGTH="²"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "The body is not valid JSON."
