from __future__ import annotations

import json
import logging
import runpy
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dashboard.aws import dynamodb
from dashboard.services import TOKEN_PREFIX, api_token_authenticate, api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

URL = "/api/v1/submissions"


@pytest.fixture
def token(user) -> str:
    _, raw = api_token_create(user=user, name="tests")
    return raw


def _post(client: Client, body, token: str | None = None, content_type: str = "application/json"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, headers=headers)


def test_a_token_submission_is_accepted_and_queued(client, token, results_table, queue):
    response = _post(client, {"text": "I really enjoyed it"}, token)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status"}
    assert body["status"] == "queued"
    assert dynamodb.item_get(item_id=body["id"])["text"] == "I really enjoyed it"
    assert queue.count == 1


def test_get_returns_every_schema_field(client, token, results_table, queue):
    item_id = _post(client, {"text": "hello there"}, token).json()["id"]

    response = client.get(f"{URL}/{item_id}", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert set(response.json()) == set(dynamodb.ITEM_FIELDS)
    assert response.json()["id"] == item_id


def test_a_done_item_returns_every_classs_probability(client, token, results_table):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="done-1", text="hello there"))
    dynamodb.item_claim(item_id="done-1", claimed_by="host:1:job")
    dynamodb.item_finish(
        item_id="done-1",
        status="done",
        claimed_by="host:1:job",
        label=1,
        label_name="positive",
        confidence=0.88,
        probabilities={"negative": 0.12, "positive": 0.88},
        model="m",
    )

    response = client.get(f"{URL}/done-1", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json()["probabilities"] == {"negative": 0.12, "positive": 0.88}


def test_the_document_describes_probabilities_as_a_map_of_numbers_or_null():
    from tests.dashboard.api_contract import api_document, api_response_problem

    result = api_document()["components"]["schemas"]["Result"]
    assert "probabilities" in result["required"]
    body = {
        "id": "a",
        "text": "t",
        "status": "done",
        "label": 1,
        "label_name": "positive",
        "confidence": 0.9,
        "model": "m",
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:01Z",
        "error": None,
        "human_label": None,
        "human_label_name": None,
        "labelled_by": None,
        "labelled_at": None,
    }
    check = {"method": "GET", "path": f"{URL}/a", "status": 200, "content_type": "application/json"}
    for good in ({"negative": 0.1, "positive": 0.9}, None):
        assert (
            api_response_problem(api_document(), body=json.dumps(body | {"probabilities": good}).encode(), **check)
            is None
        )
    for bad in ([0.1, 0.9], {"positive": "0.9"}, {"positive": 1.5}):
        problem = api_response_problem(api_document(), body=json.dumps(body | {"probabilities": bad}).encode(), **check)
        assert problem, bad


@pytest.mark.parametrize("item_id", ["0123456789abcdef0123456789abcdef", "..%2F..%2Fetc", "a b"])
def test_unknown_ids_are_404(client, token, results_table, item_id):
    response = client.get(f"{URL}/{item_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert "error" in response.json()


def test_unauthenticated_requests_are_401(client, results_table, queue):
    assert _post(client, {"text": "hi"}).status_code == 401
    assert client.get(f"{URL}/abc").status_code == 401
    assert queue.count == 0


def test_a_wrong_or_revoked_token_is_401(client, token, results_table, queue):
    assert _post(client, {"text": "hi"}, token + "x").status_code == 401
    assert _post(client, {"text": "hi"}, "not-even-close").status_code == 401
    assert api_token_revoke(prefix=token[:12]) == 1
    assert _post(client, {"text": "hi"}, token).status_code == 401
    assert queue.count == 0


def test_tokens_are_stored_hashed(user, token):
    stored = user.api_tokens.get()
    assert token not in (stored.key_hash, stored.prefix)
    assert len(stored.key_hash) == 64


def test_a_session_user_must_send_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(URL, data=json.dumps({"text": "hi"}), content_type="application/json")
    assert response.status_code == 403


def test_a_session_user_with_csrf_can_submit(user, results_table, queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("dashboard:submit"))
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        URL, data=json.dumps({"text": "hi"}), content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("{not json", "application/json", 400, "not valid JSON"),
        ([1, 2], "application/json", 400, "JSON object"),
        ({"text": 5}, "application/json", 400, "must be a string"),
        ({"text": None}, "application/json", 400, "must be a string"),
        ({}, "application/json", 400, "'text' is required"),
        ({"text": "ok", "label": 1}, "application/json", 400, "Unknown field(s): label"),
        ({"text": "   "}, "application/json", 400, "Text is empty"),
        ({"text": "x" * 5001}, "application/json", 400, "the limit is 5,000"),
        ({"text": "nul\u0000"}, "application/json", 400, "control character"),
        ("text=hi", "application/x-www-form-urlencoded", 415, "application/json"),
    ],
)
def test_bad_bodies_get_a_clear_4xx_and_store_nothing(
    client, token, results_table, queue, body, content_type, status, message
):
    response = _post(client, body, token, content_type=content_type)

    assert response.status_code == status
    assert message in response.json()["error"]
    assert dynamodb.items_page_newest(limit=10)[0] == []
    assert queue.count == 0


def test_create_api_token_prints_a_working_token(client, user, results_table, queue, capsys):
    call_command("create_api_token", "alice")
    raw = capsys.readouterr().out.strip()
    assert _post(client, {"text": "works"}, raw).status_code == 202


def test_revoke_api_token_stops_a_token_at_its_next_request(client, user, token, results_table, queue, capsys):
    assert _post(client, {"text": "before"}, token).status_code == 202
    call_command("revoke_api_token", token[:12])
    assert capsys.readouterr().out.strip() == "Revoked 1 token(s)."
    assert _post(client, {"text": "after"}, token).status_code == 401
    with pytest.raises(CommandError, match="No active token starts with"):
        call_command("revoke_api_token", token[:12])  # already revoked: says so, exits non-zero


def test_tokens_and_passwords_never_reach_the_logs(client, user, token, results_table, queue, caplog, json_logs):
    caplog.set_level(logging.DEBUG)
    assert _post(client, {"text": "logged?"}, token).status_code == 202
    assert _post(client, {"text": "logged?"}, token + "x").status_code == 401
    api_token_revoke(prefix=token[:12])
    assert _post(client, {"text": "logged?"}, token).status_code == 401
    password = "not-the-password-4f1c"
    assert client.post(reverse("login"), {"username": "alice", "password": password}).status_code == 200

    assert any(record.levelno >= logging.WARNING for record in caplog.records)  # the 401s were logged
    secret = token.removeprefix(TOKEN_PREFIX)
    assert secret[:16] not in caplog.text and password not in caplog.text
    # The production (JSON) lines too, every field of them: the same requests, as the log shipper gets them.
    lines = json_logs.lines()
    assert any(line["event"] == "job enqueued" and line["user"] == "alice" for line in lines)
    assert any(line["level"] == "warning" for line in lines)  # the 401s
    assert secret[:16] not in json_logs.text() and password not in json_logs.text()
    assert "Bearer" not in json_logs.text()
    # gunicorn's access log: its default format, which names no request header.
    config = runpy.run_path(str(Path(__file__).resolve().parents[3] / "webapp" / "gunicorn.conf.py"))
    assert config["accesslog"] == "-" and "access_log_format" not in config


def test_a_token_resolves_to_its_whole_user_as_the_orm_loads_it(user, token):
    from django.contrib.auth import get_user_model

    user.last_login = timezone.now() - timedelta(days=2)
    user.save()

    found = api_token_authenticate(raw=token)

    expected = get_user_model().objects.get(pk=user.pk)
    assert type(found) is type(expected)
    for field in expected._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert isinstance(found.date_joined, datetime) and found.date_joined.tzinfo is not None
    assert found.is_authenticated and not found._state.adding


def test_an_inactive_users_token_is_refused(user, token):
    assert api_token_authenticate(raw=token) is not None
    user.is_active = False
    user.save()
    assert api_token_authenticate(raw=token) is None


def test_last_use_is_recorded_at_most_once_a_minute(user, token):
    record = user.api_tokens.get()
    assert record.last_used_at is None

    api_token_authenticate(raw=token)
    first = user.api_tokens.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    api_token_authenticate(raw=token)
    assert user.api_tokens.get().last_used_at == first

    user.api_tokens.update(last_used_at=first - timedelta(minutes=2))
    api_token_authenticate(raw=token)
    assert user.api_tokens.get().last_used_at > first


# --- long polling: GET /api/v1/submissions/<id>?wait=N -------------------------------------


def _finish_later(item_id: str, *, after_s: float, announce: bool = True) -> threading.Thread:
    """Claim and finish a queued item from another thread, as the worker would, `after_s` from now."""
    from dashboard.result_events import results_announce

    def work() -> None:
        time.sleep(after_s)
        dynamodb.item_claim(item_id=item_id, claimed_by="host:1:job")
        dynamodb.item_finish(item_id=item_id, status="done", claimed_by="host:1:job", label=1, label_name="positive")
        if announce:
            results_announce(item_ids=[item_id])

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _wait_get(client: Client, token: str, item_id: str, wait: str):
    started = time.monotonic()
    response = client.get(f"{URL}/{item_id}", {"wait": wait}, headers={"Authorization": f"Bearer {token}"})
    return response, time.monotonic() - started


def test_a_long_poll_answers_as_soon_as_the_result_is_announced(client, token, results_table, redis_conn, settings):
    settings.SUBMISSION_WAIT_POLL_S = 20.0  # so only the announcement can end the wait early
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="soon", text="hello there"))
    thread = _finish_later("soon", after_s=0.3)

    response, elapsed = _wait_get(client, token, "soon", "10")
    thread.join()

    assert response.status_code == 200
    assert response.json()["status"] == "done"
    assert 0.3 <= elapsed < 3


def test_a_long_poll_times_out_with_the_item_as_it_is(client, token, results_table, redis_conn):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="slow", text="hello there"))

    response, elapsed = _wait_get(client, token, "slow", "0.5")

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert set(response.json()) == set(dynamodb.ITEM_FIELDS)
    assert 0.5 <= elapsed < 2.5


def test_a_long_poll_on_a_finished_item_answers_at_once(client, token, results_table, redis_conn):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="old", text="hello there"))
    _finish_later("old", after_s=0).join()

    response, elapsed = _wait_get(client, token, "old", "10")

    assert response.json()["status"] == "done"
    assert elapsed < 1


@pytest.mark.parametrize("wait", ["0", "-1", "abc", "", "nan", "inf", "20.5", "1e9"])
def test_a_bad_wait_is_refused_with_the_limits(client, token, results_table, wait):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="w", text="hello there"))

    response, _ = _wait_get(client, token, "w", wait)

    assert response.status_code == 400
    assert response.json()["fields"] == {"wait": "wait must be a number of seconds, more than 0 and at most 20."}


def test_a_long_poll_on_an_unknown_id_is_404_at_once(client, token, results_table, redis_conn):
    response, elapsed = _wait_get(client, token, "0123456789abcdef0123456789abcdef", "10")

    assert response.status_code == 404
    assert elapsed < 1


def test_with_redis_down_a_long_poll_reads_the_item_until_it_is_done(client, token, results_table, settings):
    from tests.conftest import queue_unreachable

    queue_unreachable(settings)
    settings.SUBMISSION_WAIT_POLL_S = 0.2
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="offline", text="hello there"))
    thread = _finish_later("offline", after_s=0.3)  # its announcement fails too

    response, elapsed = _wait_get(client, token, "offline", "5")
    thread.join()

    assert response.status_code == 200
    assert response.json()["status"] == "done"
    assert elapsed < 2


def test_a_busy_web_process_answers_a_long_poll_at_once(client, token, results_table, redis_conn, settings):
    settings.SUBMISSION_WAIT_MAX_WAITERS = 0  # every request thread is someone else's
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="busy", text="hello there"))

    response, elapsed = _wait_get(client, token, "busy", "10")

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert elapsed < 1


def test_a_cancel_ends_a_long_poll_on_the_item(client, token, user, results_table, redis_conn, settings):
    from dashboard.cancel import submission_cancel

    settings.SUBMISSION_WAIT_POLL_S = 20.0
    item = dynamodb.new_item(item_id="stop", text="hello there") | {"submitted_by": user.get_username()}
    dynamodb.item_put_new(item=item)
    timer = threading.Timer(0.3, lambda: submission_cancel(item_id="stop", user=user, reason="changed my mind"))
    timer.start()

    response, elapsed = _wait_get(client, token, "stop", "10")
    timer.join()

    assert response.json()["status"] == "cancelled"
    assert elapsed < 3


# --- submit and wait: POST /api/v1/submissions?wait=N ---------------------------------------


def _classify_when_queued(queue, engine) -> threading.Thread:
    """Run the queued job's classify function from another thread once it is queued, as the worker would."""
    from classifier import jobs

    def work() -> None:
        deadline = time.monotonic() + 10
        while not queue.get_job_ids() and time.monotonic() < deadline:
            time.sleep(0.01)
        [job] = queue.get_jobs()
        jobs.classify_items(job.args[0])

    jobs.engine_set(engine)
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _post_waiting(client: Client, body, token: str, wait: str):
    started = time.monotonic()
    response = client.post(
        f"{URL}?wait={wait}",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    return response, time.monotonic() - started


def test_a_submission_that_waits_answers_with_its_result(client, token, results_table, queue, engine, settings):
    from classifier import jobs

    settings.SUBMISSION_WAIT_POLL_S = 20.0  # so only the worker's announcement can end the wait early
    thread = _classify_when_queued(queue, engine)
    try:
        response, elapsed = _post_waiting(
            client, {"text": "The staff were lovely and the food was delicious."}, token, "10"
        )
        thread.join()
    finally:
        jobs.engine_set(None)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(dynamodb.ITEM_FIELDS)  # and callback_secret only with a callback_url, as the 202
    stored = dynamodb.item_get(item_id=body["id"])
    assert (body["status"], body["label_name"]) == ("done", stored["label_name"])
    assert body["probabilities"] == pytest.approx(stored["probabilities"])
    assert elapsed < 5


def test_a_submission_that_waits_too_little_is_accepted_as_without_a_wait(client, token, results_table, queue):
    from tests.dashboard.metrics.support import sample

    accepted = sample("console_submissions_accepted_total")
    response, elapsed = _post_waiting(client, {"text": "I really enjoyed it"}, token, "0.3")

    assert response.status_code == 202
    assert set(response.json()) == {"id", "status"} and response.json()["status"] == "queued"
    assert dynamodb.item_get(item_id=response.json()["id"])["status"] == "queued"
    assert queue.count == 1 and 0.3 <= elapsed < 2.5
    assert sample("console_submissions_accepted_total") == accepted + 1


@pytest.mark.parametrize("wait", ["0", "abc", "21"])
def test_a_submission_with_a_bad_wait_is_refused_before_anything_is_stored(client, token, results_table, queue, wait):
    from tests.dashboard.metrics.support import sample

    refused = sample("console_submissions_refused_total", reason="invalid")
    response, _ = _post_waiting(client, {"text": "I really enjoyed it"}, token, wait)

    assert response.status_code == 400
    assert response.json()["fields"] == {"wait": "wait must be a number of seconds, more than 0 and at most 20."}
    assert queue.count == 0
    assert sample("console_submissions_refused_total", reason="invalid") == refused + 1


def test_a_waiting_submission_with_a_callback_gets_its_secret_with_the_result(
    client, token, results_table, queue, engine, settings
):
    from classifier import jobs
    from dashboard.webhooks.signing import callback_secret

    settings.SUBMISSION_WAIT_POLL_S = 20.0
    thread = _classify_when_queued(queue, engine)
    try:
        body = {"text": "Lovely.", "callback_url": "https://93.184.215.14/hooks/console"}
        response, _ = _post_waiting(client, body, token, "10")
        thread.join()
    finally:
        jobs.engine_set(None)

    assert response.status_code == 200 and response.json()["status"] == "done"
    assert response.json()["callback_secret"] == callback_secret(subject=f"item:{response.json()['id']}")
