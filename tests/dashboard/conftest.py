"""Fixtures for the dashboard's tests: hard dates, API responses checked against the document, an API
token's headers, a power manager that starts no worker, the generations table and the SageMaker servers.

Hard dates: the suite runs on the real clock; only tests that ask for `hard_date` (or travel
themselves with `time_machine`) run under a frozen one. A test that depends on today's date is a
defect: give it data relative to `hard_date`, or pin it to a fixed date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import time_machine

if TYPE_CHECKING:
    from tests.dashboard.sagemaker_fakes import Reply, ScriptedAws

HARD_DATES = {
    "month-end": datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC),
    "new-years-eve": datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
    "new-year": datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC),
    "leap-day": datetime(2028, 2, 29, 12, 0, 0, tzinfo=UTC),
    "two-years-ahead": datetime(2028, 12, 1, 0, 0, 0, tzinfo=UTC),
}


@pytest.fixture(autouse=True)
def _endpoints_on_aws(settings):
    """The dashboard's endpoint tests drive SageMaker (moto or a scripted server); the local backend's own
    tests (tests/dashboard/endpoints/) and the browser tests choose `local` themselves."""
    settings.SAGEMAKER_BACKEND = "aws"


@pytest.fixture(params=list(HARD_DATES.values()), ids=list(HARD_DATES))
def hard_date(request) -> datetime:
    """The test runs once per hard date, with the clock stopped there (`time_machine`, tick=False).

    Name it first among a test's arguments, so a login (`user_client`) happens at that date too: a
    session made on the real clock has expired two years ahead.
    """
    with time_machine.travel(request.param, tick=False):
        yield request.param


@pytest.fixture(autouse=True)
def _api_responses_match_the_document(monkeypatch):
    """Every response a test gets from /api/v1/ has a documented status and a body its schema allows."""
    from django.test import Client

    from tests.dashboard.api_contract import api_document, api_response_problem

    request = Client.request

    def checked(self, **environ):
        response = request(self, **environ)
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/v1/") and not getattr(response, "streaming", False):
            problem = api_response_problem(
                api_document(),
                method=environ.get("REQUEST_METHOD", "GET"),
                path=path,
                status=response.status_code,
                content_type=response.get("Content-Type", ""),
                body=response.content,
            )
            assert problem is None, problem
        return response

    monkeypatch.setattr(Client, "request", checked)


@pytest.fixture(scope="module")
def moto_server():
    """moto in server mode (SageMaker and sagemaker-runtime), one per test module; `runtime` points a test at it."""
    from tests.dashboard.sagemaker_fakes import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def runtime(moto_server, settings):
    settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = moto_server.url
    yield moto_server
    moto_server.reset()


@pytest.fixture
def scripted(settings):
    """Point sagemaker-runtime at a scripted server: `scripted(Reply(...), ...)` returns it, running."""
    from tests.dashboard.sagemaker_fakes import ScriptedAws

    started: list[ScriptedAws] = []
    settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS = 1

    def start(*replies: Reply) -> ScriptedAws:
        server = ScriptedAws(*replies).__enter__()
        started.append(server)
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = server.url
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def auth(user) -> dict[str, str]:
    """The headers of an API call with a fresh bearer token of `user`."""
    from dashboard.services import api_token_create

    _, raw = api_token_create(user=user, name="tests")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def capacity_on(redis_conn):
    """For tests that submit but bring no worker: keep the power manager from starting a real one."""
    from dashboard.power import CAPACITY_OK_KEY

    redis_conn.set(CAPACITY_OK_KEY, "1")


@pytest.fixture
def fake_endpoints(monkeypatch, redis_conn, settings):
    """`fake_endpoints(*names, state=...)`: an in-memory endpoint backend that `dashboard.endpoints.backend()`
    returns (tests/dashboard/endpoints/fakes.py), with the default start-time estimates."""
    from dashboard import endpoints
    from tests.dashboard.endpoints.fakes import FakeEndpoints

    settings.SAGEMAKER_START_SECONDS = {"realtime": 480, "async": 300, "local": 20}

    def make(*names: str, **options) -> FakeEndpoints:
        backend = FakeEndpoints(*names, **options)
        monkeypatch.setattr(endpoints, "backend", lambda: backend)
        return backend

    return make
