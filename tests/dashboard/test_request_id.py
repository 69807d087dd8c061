"""The request id: taken from X-Request-ID or made, returned, bound to the request's lines, never left behind."""

from __future__ import annotations

import logging

import pytest
import structlog

from dashboard.middleware import REQUEST_ID_HEADER, request_id_accept

pytestmark = pytest.mark.django_db


def test_a_valid_request_id_is_echoed(client):
    response = client.get("/healthz", headers={REQUEST_ID_HEADER: "lb-trace-0001:abc"})

    assert response[REQUEST_ID_HEADER] == "lb-trace-0001:abc"


def test_a_request_id_is_made_when_none_is_sent(client):
    first = client.get("/healthz")[REQUEST_ID_HEADER]
    second = client.get("/healthz")[REQUEST_ID_HEADER]

    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "has space", "line\nbreak", "tab\there", "caf\u00e9", ""],
    ids=["too-long", "space", "newline", "tab", "non-ascii", "empty"],
)
def test_an_invalid_request_id_is_replaced_by_a_new_one(sent):
    made = request_id_accept(sent)

    assert made != sent and len(made) == 32


def test_an_invalid_header_gets_a_new_id_in_the_response(client):
    response = client.get("/healthz", headers={REQUEST_ID_HEADER: "x" * 200})

    assert response[REQUEST_ID_HEADER] != "x" * 200 and len(response[REQUEST_ID_HEADER]) == 32


def test_the_longest_valid_id_is_kept():
    assert request_id_accept("a" * 128) == "a" * 128


def test_an_error_page_carries_the_request_id_too(user_client):
    response = user_client.get("/no-such-page", headers={REQUEST_ID_HEADER: "req-404"})

    assert response.status_code == 404 and response[REQUEST_ID_HEADER] == "req-404"


def test_the_lines_of_a_request_carry_its_id_and_user(user_client, results_table, monkeypatch, json_logs):
    from dashboard.views import pages

    def rendered(*args, **kwargs):
        logging.getLogger("dashboard.views.pages").warning("reading results")
        raise RuntimeError("stop here")

    monkeypatch.setattr(pages, "render", rendered)
    user_client.raise_request_exception = False
    response = user_client.get("/", headers={REQUEST_ID_HEADER: "req-page"})

    assert response.status_code == 500 and response[REQUEST_ID_HEADER] == "req-page"
    ours = [line for line in json_logs.lines() if line.get("request_id") == "req-page"]
    assert {line["event"] for line in ours} >= {"reading results"}
    assert all(line["user"] == "alice" for line in ours)
    assert any(line["logger"] == "django.request" and "RuntimeError" in line.get("exception", "") for line in ours)


def test_an_api_token_users_lines_name_the_user(client, auth, results_table, queue, capacity_on, json_logs):
    response = client.post(
        "/api/v1/submissions",
        {"text": "fine"},
        content_type="application/json",
        headers=auth | {REQUEST_ID_HEADER: "req-api"},
    )

    assert response.status_code == 202
    [enqueued] = [line for line in json_logs.lines() if line["event"] == "job enqueued"]
    assert (enqueued["request_id"], enqueued["user"], enqueued["item_ids"]) == (
        "req-api",
        "alice",
        [response.json()["id"]],
    )


def test_nothing_stays_bound_after_a_request(user_client):
    structlog.contextvars.bind_contextvars(request_id="left-over", user="mallory")
    user_client.get("/healthz", headers={REQUEST_ID_HEADER: "req-a"})

    assert structlog.contextvars.get_contextvars() == {}
