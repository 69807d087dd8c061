"""Health checks: public, so `/readyz` says only ok/error per dependency; the reasons go to the log."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import queue_unreachable

pytestmark = pytest.mark.django_db


def test_readyz_says_ok_for_each_dependency(client, results_table, redis_conn):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"redis": "ok", "dynamodb": "ok"}}


def test_a_store_error_is_logged_and_never_shown_to_the_caller(client, settings, redis_conn, caplog):
    settings.DYNAMODB_TABLE = "prod-results-acct-123456789012"  # the error names the table it could not find
    with caplog.at_level(logging.WARNING, logger="dashboard.views.health"):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "checks": {"redis": "ok", "dynamodb": "error"}}
    assert "123456789012" not in response.content.decode()
    assert "prod-results-acct-123456789012" in caplog.text and "does not exist" in caplog.text


def test_a_redis_error_is_logged_and_never_shown_to_the_caller(client, results_table, settings, caplog):
    queue_unreachable(settings)
    port = settings.RQ_QUEUES[settings.INFERENCE_QUEUE]["URL"].rsplit(":", 1)[1].split("/")[0]
    with caplog.at_level(logging.WARNING, logger="dashboard.views.health"):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "checks": {"redis": "error", "dynamodb": "ok"}}
    assert "ConnectionError" not in response.content.decode() and port not in response.content.decode()
    assert "readiness check redis failed: ConnectionError" in caplog.text and port in caplog.text
