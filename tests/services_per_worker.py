"""Loaded first (`-p tests.services_per_worker` in pytest.ini), before Django reads its settings.

Under pytest-xdist each worker process gets its own Redis database of the one test Redis, so one
worker's `flushdb` never empties another's queues; the processes a test starts inherit it through
the environment. DynamoDB Local needs nothing: every test makes its own uniquely named table.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def redis_url_for_worker(url: str, worker: str) -> str:
    """`url` with the database of xdist worker `worker` ("gw0" -> 1, "gw1" -> 2, ...)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{int(worker.removeprefix('gw')) + 1}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = redis_url_for_worker(os.environ["REDIS_URL"], _worker)
