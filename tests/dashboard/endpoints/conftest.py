"""Fixtures for the endpoint backends: local endpoints with unique names, logs in a temporary folder,
a tiny generator model, and no process or Redis key left behind."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_generator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from classifier.generator import TINY_GENERATOR, generator_build
    from tests.classifier.conftest import templated_corpus

    corpus = templated_corpus(tmp_path_factory.mktemp("corpus"), rows=300)
    out = tmp_path_factory.mktemp("gpt2-tiny")
    generator_build(out, corpus=corpus, size=TINY_GENERATOR)
    return out


@pytest.fixture
def local_endpoints(settings, redis_conn, tmp_path, tiny_generator_dir, demo_model_dir):
    """The local backend with a generator and a classifier endpoint of this test's own names."""
    from dashboard.endpoints.local import KEY_PREFIX, REGISTRY_KEY, LocalEndpoints

    suffix = uuid.uuid4().hex[:8]
    settings.SAGEMAKER_BACKEND = "local"
    settings.SAGEMAKER_GENERATE_ENDPOINT = f"gen-{suffix}"
    settings.LOCAL_CLASSIFIER_ENDPOINT = f"cls-{suffix}"
    settings.LOCAL_GENERATOR_MODEL = str(tiny_generator_dir)
    settings.CLASSIFIER_MODEL = str(demo_model_dir)
    settings.VAR_DIR = tmp_path
    settings.LOCAL_ENDPOINT_STOP_TIMEOUT = 10
    backend = LocalEndpoints()
    yield backend
    for name in backend.endpoint_names():
        backend.scale_to_zero(name)
        redis_conn.delete(KEY_PREFIX + name)
    redis_conn.delete(REGISTRY_KEY)


def wait_for(backend, name: str, states: set[str], timeout: float = 180.0):
    """Describe `name` until its state is one of `states`; the last description."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        endpoint = backend.endpoint_describe(name)
        if endpoint.state in states or time.monotonic() > deadline:
            return endpoint
        time.sleep(0.2)
