"""Submissions and batches counted where they are answered: accepted, or refused with the reason."""

from __future__ import annotations

import json

import pytest

from tests.dashboard.metrics.support import parse, sample, value

pytestmark = pytest.mark.django_db

SUBMISSIONS = "/api/v1/submissions"
BATCHES = "/api/v1/batches"


def _submit(client, auth, text: str):
    return client.post(SUBMISSIONS, data=json.dumps({"text": text}), content_type="application/json", headers=auth)


def test_three_accepted_and_one_refused_submission_move_the_counters_by_exactly_that(
    client, auth, results_table, queue, capacity_on
):
    accepted = sample("console_submissions_accepted_total")
    invalid = sample("console_submissions_refused_total", reason="invalid")
    timed = sample("console_submit_duration_seconds_count", kind="submission")

    statuses = [_submit(client, auth, f"text {n}").status_code for n in range(3)]
    statuses.append(_submit(client, auth, "").status_code)

    assert statuses == [202, 202, 202, 400]
    assert sample("console_submissions_accepted_total") - accepted == 3
    assert sample("console_submissions_refused_total", reason="invalid") - invalid == 1
    assert sample("console_submit_duration_seconds_count", kind="submission") - timed == 4
    scraped = parse(client.get("/metrics").content.decode())
    assert value(scraped, "console_submissions_accepted_total") == sample("console_submissions_accepted_total")
    assert value(scraped, "console_items", status="queued") == 3


def test_a_refusal_is_counted_by_its_reason(client, auth, results_table, queue, capacity_on, settings):
    settings.SUBMISSIONS_PER_MINUTE = 1
    limited = sample("console_submissions_refused_total", reason="rate_limited")
    unsupported = sample("console_submissions_refused_total", reason="unsupported_media_type")

    assert _submit(client, auth, "one").status_code == 202
    assert _submit(client, auth, "two").status_code == 429
    assert client.post(SUBMISSIONS, data="text", content_type="text/plain", headers=auth).status_code == 415

    assert sample("console_submissions_refused_total", reason="rate_limited") - limited == 1
    assert sample("console_submissions_refused_total", reason="unsupported_media_type") - unsupported == 1


def test_a_request_that_is_not_authenticated_is_no_submission(client, results_table, queue):
    before = sum(sample("console_submissions_refused_total", reason=r) for r in ("invalid", "error"))

    assert client.post(SUBMISSIONS, data="{}", content_type="application/json").status_code == 401

    assert sum(sample("console_submissions_refused_total", reason=r) for r in ("invalid", "error")) == before


def test_batches_are_counted_accepted_and_refused_by_reason(client, auth, results_table, queue, capacity_on):
    accepted = sample("console_batches_accepted_total")
    conflict = sample("console_batches_refused_total", reason="conflict")
    invalid = sample("console_batches_refused_total", reason="invalid")
    body = json.dumps({"items": [{"id": "metrics-batch-1", "text": "one"}]})

    first = client.post(BATCHES, data=body, content_type="application/json", headers=auth)
    again = client.post(BATCHES, data=body, content_type="application/json", headers=auth)
    empty = client.post(BATCHES, data=json.dumps({"texts": []}), content_type="application/json", headers=auth)

    assert (first.status_code, again.status_code, empty.status_code) == (202, 409, 400)
    assert sample("console_batches_accepted_total") - accepted == 1
    assert sample("console_batches_refused_total", reason="conflict") - conflict == 1
    assert sample("console_batches_refused_total", reason="invalid") - invalid == 1


def test_the_forms_count_their_posts_but_not_their_pages(user_client, results_table, queue, capacity_on):
    submissions = sample("console_submissions_accepted_total")
    batches = sample("console_batches_accepted_total")
    invalid = sample("console_submissions_refused_total", reason="invalid")

    assert user_client.get("/submit/").status_code == 200
    assert user_client.post("/submit/", {"text": "from the form"}).status_code == 302
    assert user_client.post("/submit/", {"text": ""}).status_code == 400
    assert user_client.post("/batches/", {"lines": "one\ntwo"}).status_code == 302

    assert sample("console_submissions_accepted_total") - submissions == 1
    assert sample("console_submissions_refused_total", reason="invalid") - invalid == 1
    assert sample("console_batches_accepted_total") - batches == 1
