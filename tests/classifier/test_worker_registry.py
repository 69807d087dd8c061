"""A worker follows the registry: a promote while 200 items are queued, a version that fails to load, and a
roll back. Real Redis, DynamoDB Local, the demo model and the real worker loop (in this process)."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from django.conf import settings as live_settings

from classifier import jobs
from classifier.contracts import MODEL_LOAD_ERROR_FIELD, WORKER_META_PREFIX
from classifier.engine import load_engine
from classifier.worker import worker_run
from dashboard.aws import dynamodb
from dashboard.queue import classify_enqueue, redis_connection
from dashboard.registry import services

pytestmark = pytest.mark.django_db

ITEMS = 200
PER_JOB = 10


@pytest.fixture(autouse=True)
def _one_job_per_batch(settings):
    settings.MICROBATCH_MAX_SIZE = PER_JOB  # each job runs its own items: the promote lands between jobs


@pytest.fixture
def versions(staff, demo_model_dir, tmp_path, redis_conn):
    """Two registered versions of the demo model (the second a copy of its directory); the first serves."""
    copy = tmp_path / "demo-copy"
    shutil.copytree(demo_model_dir, copy)
    one = services.model_register(name="demo", source=str(demo_model_dir), user=staff)
    two = services.model_register(name="demo", source=str(copy), user=staff)
    services.model_promote(version_id=one.id, user=staff)
    yield one, two
    jobs.engine_set(None)


def _queue_items() -> list[str]:
    ids = [f"it-{n:03d}" for n in range(ITEMS)]
    dynamodb.items_put_many(items=[dynamodb.new_item(item_id=i, text=f"The room was lovely, night {i}.") for i in ids])
    for start in range(0, ITEMS, PER_JOB):
        classify_enqueue(item_ids=ids[start : start + PER_JOB])
    return ids


def _work(engine, loader, name: str = "registry-worker") -> None:
    worker_run(
        queue_names=[live_settings.INFERENCE_QUEUE],
        connection=redis_connection(),
        engine=engine,
        burst=True,
        name=name,
        engine_loader=loader,
    )


def test_a_promote_while_items_are_queued_changes_the_version_between_jobs_and_loses_none(
    results_table, queue, versions, staff, monkeypatch
):
    one, two = versions
    ids = _queue_items()
    engine = load_engine(one.source)
    engine.model_name = one.id
    runs = {"batches": 0}
    predict = engine.predict_safe

    def predict_then_promote(texts):
        runs["batches"] += 1
        if runs["batches"] == 5:  # mid-queue: staff promote the second version
            services.model_promote(version_id=two.id, user=staff)
        return predict(texts)

    monkeypatch.setattr(engine, "predict_safe", predict_then_promote)
    loaded = []

    def loader(source):
        loaded.append(source)
        return load_engine(source)

    _work(engine, loader)

    items = dynamodb.items_get_many(item_ids=ids)
    assert len(items) == ITEMS and {item["status"] for item in items.values()} == {"done"}
    assert {item["result_writes"] for item in items.values()} == {1}  # each done exactly once
    by_version = Counter(item["model"] for item in items.values())
    assert set(by_version) == {one.id, two.id} and sum(by_version.values()) == ITEMS
    assert loaded == [two.source]  # loaded once, between two jobs
    assert by_version[one.id] == 5 * PER_JOB  # the five jobs before the promote; every later one on the new version


def test_a_version_that_does_not_load_leaves_the_old_one_serving_and_says_why(
    results_table, queue, versions, staff, tmp_path
):
    one, _ = versions
    broken = services.model_register(name="demo", source=str(tmp_path / "missing"), user=staff)
    services.model_promote(version_id=broken.id, user=staff)
    ids = _queue_items()
    engine = load_engine(one.source)
    engine.model_name = one.id
    tries, errors = [], []
    predict = engine.predict_safe

    def loader(source):
        tries.append(source)
        return load_engine(source)

    def predict_and_look(texts):  # the worker's hash is gone once it stops: read it while it works
        errors.append(redis_connection().hget(WORKER_META_PREFIX + "registry-worker", MODEL_LOAD_ERROR_FIELD))
        return predict(texts)

    engine.predict_safe = predict_and_look
    _work(engine, loader)

    items = dynamodb.items_get_many(item_ids=ids)
    assert {item["model"] for item in items.values()} == {one.id}
    assert {item["status"] for item in items.values()} == {"done"}
    assert len(tries) == 1  # not tried again before every job
    assert errors[-1].decode().startswith(f"could not load {broken.id} from {broken.source}")


def test_a_roll_back_is_followed_like_a_promote(results_table, queue, versions, staff):
    one, two = versions
    services.model_promote(version_id=two.id, user=staff)
    services.model_rollback(user=staff)
    ids = _queue_items()[:PER_JOB]
    engine = load_engine(two.source)
    engine.model_name = two.id

    _work(engine, load_engine)

    assert {item["model"] for item in dynamodb.items_get_many(item_ids=ids).values()} == {one.id}
