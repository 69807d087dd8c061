"""Fixtures shared by every test: the real services started by `make test`, users, tables, queues."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in ("REDIS_URL", "DYNAMODB_ENDPOINT_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"{', '.join(missing)} not set. Run the suite with `make test`, which starts a real Redis and "
            "DynamoDB Local for it (or: .venv/bin/python -m dashboard.devservices exec -- .venv/bin/pytest)."
        )


@pytest.fixture(autouse=True)
def _login_throttle_cleared():
    """Every test starts with no failed logins counted: the test client always comes from 127.0.0.1."""
    from redis.exceptions import RedisError

    from dashboard.login_throttle import login_throttle_reset

    try:
        login_throttle_reset()
    except RedisError:
        pass  # a test that has Redis down does not log in through the form either
    yield


@pytest.fixture
def results_table(settings) -> str:
    """A fresh DynamoDB Local table for one test, removed afterwards."""
    from dashboard.aws import dynamodb

    name = f"test-results-{uuid.uuid4().hex[:10]}"
    settings.DYNAMODB_TABLE = name
    dynamodb.table_ensure(name=name)
    yield name
    dynamodb.table_delete(name=name)


@pytest.fixture
def generations_table(settings):
    """A fresh DynamoDB Local table for the Generate tests' records, removed afterwards."""
    from dashboard.aws import dynamodb

    name = f"test-generations-{uuid.uuid4().hex[:10]}"
    settings.DYNAMODB_GENERATIONS_TABLE = name
    dynamodb.generations_table_ensure(name=name)
    yield name
    dynamodb.table_delete(name=name)


@pytest.fixture
def redis_conn():
    """The test Redis, emptied after the test."""
    import django_rq
    from django.conf import settings

    connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def queue(redis_conn):
    from dashboard.queue import inference_queue

    return inference_queue()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="correct horse battery")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="sam", password="correct horse battery", is_staff=True)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    """The demo model `make test` builds once (var/models/demo), or CLASSIFIER_MODEL when set."""
    configured = os.environ.get("CLASSIFIER_MODEL")
    path = Path(configured) if configured else ROOT / "var" / "models" / "demo"
    if not (path / "config.json").exists():
        from classifier.corpus import corpus_prepare
        from classifier.demo import build_demo_model

        build_demo_model(path, corpus=corpus_prepare(ROOT / "var" / "corpus"))
    return path


@pytest.fixture(scope="session")
def engine(demo_model_dir):
    from classifier.engine import load_engine

    return load_engine(str(demo_model_dir))


def queue_unreachable(settings) -> None:
    """Point the job queue at a port nothing listens on: Redis is down, as far as this test is concerned."""
    from django.conf import settings as live

    from dashboard.devservices import free_port

    settings.RQ_QUEUES = {
        name: config | {"URL": f"redis://127.0.0.1:{free_port()}/0"} for name, config in live.RQ_QUEUES.items()
    }


class JsonLogs:
    """The lines a JSON log handler received: `text()` as written, `lines()` each parsed as one object."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        import json

        return [json.loads(line) for line in self.text().splitlines()]


@pytest.fixture
def json_logs():
    """What every logger writes during the test, rendered by the production (JSON) formatter.

    Only lines at the root logger's level (LOG_LEVEL, INFO) arrive, as in production.
    """
    import io
    import logging

    from webapp.logs import log_formatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter(fmt="json"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield JsonLogs(stream)
    root.removeHandler(handler)
