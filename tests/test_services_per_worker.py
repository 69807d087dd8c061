"""Each pytest-xdist worker has a Redis database of its own (tests/services_per_worker.py)."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from tests.services_per_worker import redis_url_for_worker


def test_each_worker_gets_the_next_database_and_keeps_the_rest_of_the_url():
    assert redis_url_for_worker("redis://127.0.0.1:6390/0", "gw0") == "redis://127.0.0.1:6390/1"
    assert redis_url_for_worker("redis://:pw@127.0.0.1:6390", "gw3") == "redis://:pw@127.0.0.1:6390/4"


@pytest.mark.skipif("PYTEST_XDIST_WORKER" not in os.environ, reason="runs under pytest-xdist (make test)")
def test_this_worker_and_the_processes_it_starts_use_its_own_database(redis_conn):
    expected = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw")) + 1
    assert settings.REDIS_URL.endswith(f"/{expected}") and os.environ["REDIS_URL"] == settings.REDIS_URL
    assert redis_conn.connection_pool.connection_kwargs["db"] == expected
