"""The families moved in code: a classify job's micro-batch and texts, and power actions, by who and outcome."""

from __future__ import annotations

import pytest

from classifier import jobs
from dashboard import metrics, power
from dashboard.aws import dynamodb
from dashboard.exceptions import PowerBusy
from dashboard.power import control
from dashboard.power.state import power_lock
from tests.dashboard.metrics.support import sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def warm(engine):
    jobs.engine_set(engine)
    yield engine
    jobs.engine_set(None)


def test_a_classify_job_observes_its_micro_batch_and_counts_its_texts(results_table, warm):
    model = warm.model_name
    batches = sample("console_microbatch_size_count", model=model)
    texts = sample("console_microbatch_size_sum", model=model)
    done = sample("console_texts_classified_total", model=model, outcome="done")
    seconds = sample("console_inference_batch_seconds_sum", model=model)
    for n in range(3):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"m{n}", text=f"I love it, number {n}."))

    assert jobs.classify_items(["m0", "m1", "m2"]) == {"claimed": 3, "done": 3, "failed": 0}

    assert sample("console_microbatch_size_count", model=model) - batches == 1
    assert sample("console_microbatch_size_sum", model=model) - texts == 3
    assert sample("console_texts_classified_total", model=model, outcome="done") - done == 3
    assert sample("console_inference_batch_seconds_sum", model=model) > seconds
    assert sample("console_inference_text_seconds_count", model=model) >= 1


def test_a_job_with_nothing_left_to_claim_observes_no_batch(results_table, warm):
    batches = sample("console_microbatch_size_count", model=warm.model_name)

    assert jobs.classify_items(["never-stored"])["claimed"] == 0

    assert sample("console_microbatch_size_count", model=warm.model_name) == batches


def test_failed_texts_are_counted_apart_and_a_load_without_a_time_sets_nothing():
    before = sample("console_texts_classified_total", model="m", outcome="failed")

    metrics.texts_classified_count(model="m", done=0, failed=2)
    metrics.model_loaded(model="endpoint-only", device="", seconds=float("nan"))

    assert sample("console_texts_classified_total", model="m", outcome="failed") - before == 2
    assert sample("console_model_load_seconds", model="endpoint-only", device="") == 0


def test_a_staff_start_and_a_refused_one_are_counted(results_table, redis_conn, staff, settings, monkeypatch):
    from dashboard.compute.local import LocalBackend

    settings.COMPUTE_BACKEND = "local"
    monkeypatch.setattr(LocalBackend, "start", lambda self, instance_id: "pending")  # no worker process
    ok = sample("console_power_actions_total", action="start", actor="staff", outcome="ok")
    refused = sample("console_power_actions_total", action="start", actor="staff", outcome="refused")

    monkeypatch.setattr(control, "ACTION_LOCK_WAIT_SECONDS", 0.1)

    power.instance_action(instance_id="local-1", action="start", actor=staff)
    with power_lock() as held:
        assert held
        with pytest.raises(PowerBusy):
            power.instance_action(instance_id="local-1", action="start", actor=staff)

    assert sample("console_power_actions_total", action="start", actor="staff", outcome="ok") - ok == 1
    assert sample("console_power_actions_total", action="start", actor="staff", outcome="refused") - refused == 1
