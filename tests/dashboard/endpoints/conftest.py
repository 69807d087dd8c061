from __future__ import annotations

import pytest

from tests.dashboard.endpoints.fakes import FakeEndpoints


@pytest.fixture
def fake_endpoints(monkeypatch, redis_conn, settings):
    """`fake_endpoints(*names, state=...)`: an in-memory backend that `dashboard.endpoints.backend()` returns."""
    from dashboard import endpoints

    settings.SAGEMAKER_START_SECONDS = {"realtime": 480, "async": 300, "local": 20}

    def make(*names: str, **options) -> FakeEndpoints:
        backend = FakeEndpoints(*names, **options)
        monkeypatch.setattr(endpoints, "backend", lambda: backend)
        return backend

    return make
