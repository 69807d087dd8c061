"""From "this result is wrong" to "a better model is serving, and here is the proof", end to end against
real Redis, DynamoDB Local, the demo model and the real worker loop: correct, evaluate, fine-tune on the
corrections, shadow-compare, promote while 200 items are queued, and roll back."""

from __future__ import annotations

from collections import Counter

import pytest
from django.conf import settings as live_settings

from classifier import jobs
from classifier.dataset import read_labelled_csv
from classifier.engine import load_engine
from classifier.worker import worker_run
from dashboard.aws import dynamodb
from dashboard.finetune import data
from dashboard.finetune import services as finetune
from dashboard.labels import evaluation, export
from dashboard.labels import services as labels
from dashboard.models import AuditEvent
from dashboard.queue import classify_enqueue, redis_connection
from dashboard.registry import services as registry
from dashboard.registry import shadow

pytestmark = pytest.mark.django_db

POSITIVE = ["A lovely stay and kind staff.", "Spotless room, great breakfast.", "Wonderful service, thank you."]
NEGATIVE = ["Filthy room and rude staff.", "The app crashes every time.", "Cold food and a long wait."]


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path, results_table, redis_conn):
    settings.FINETUNE_OUTPUT_DIR = str(tmp_path / "finetuned")
    settings.MICROBATCH_MAX_SIZE = 10
    yield
    jobs.engine_set(None)


def _classify(engine, item_ids: list[str]) -> None:
    for start in range(0, len(item_ids), 10):
        classify_enqueue(item_ids=item_ids[start : start + 10])
    worker_run(
        queue_names=[live_settings.INFERENCE_QUEUE, live_settings.FINETUNE_QUEUE],
        connection=redis_connection(),
        engine=engine,
        burst=True,
        name="lifecycle-worker",
        engine_loader=load_engine,
    )


def test_correct_evaluate_fine_tune_compare_promote_and_roll_back(staff, demo_model_dir, monkeypatch, tmp_path):
    one = registry.model_register(name="demo", source=str(demo_model_dir), user=staff)
    registry.model_promote(version_id=one.id, user=staff)
    engine = load_engine(one.source)
    engine.model_name = one.id

    # 1. Texts are classified by demo@1; people correct them.
    texts = {f"p{n}-{i}": f"{text} (visit {n})" for n in range(4) for i, text in enumerate(POSITIVE)}
    texts |= {f"n{n}-{i}": f"{text} (visit {n})" for n in range(4) for i, text in enumerate(NEGATIVE)}
    dynamodb.items_put_many(items=[dynamodb.new_item(item_id=i, text=t) for i, t in texts.items()])
    _classify(engine, list(texts))
    for item_id in texts:
        labels.label_set(item_id=item_id, user=staff, label="positive" if item_id.startswith("p") else "negative")
    before = evaluation.model_evaluation(model=one.id)
    assert before["labelled"] == 24 and before["accuracy"] is not None

    # 2. The corrections export as a file train_classifier reads as it is.
    path = tmp_path / "corrections.csv"
    path.write_text("".join(export.training_csv(export.training_rows())))
    corrections = read_labelled_csv(path)
    assert (len(corrections.texts), corrections.id2label) == (24, {0: "negative", 1: "positive"})

    # 3. A fine-tune on the corrections makes a candidate.
    run = finetune.finetune_start(
        user=staff,
        name="demo",
        base=one.id,
        rows=data.rows_check(data.rows_from_labels()),
        data_summary="the corrections",
        parameters={"epochs": 2, "batch_size": 8, "max_length": 32, "lr": 1e-4},
    )
    _classify(engine, [])
    run = finetune.finetune_sync(run)
    assert run.status == "succeeded"
    two = run.model_version

    # 4. Compared in the shadow on every labelled item, without changing anyone's results.
    comparison = shadow.shadow_start(user=staff, version_id=two.id, item_ids=shadow.ids_labelled(), scope="labelled")
    _classify(engine, [])
    report = shadow.shadow_report(shadow.shadow_sync(comparison))
    assert report["compared"] == 24 and report["current_right"] == round(before["accuracy"] * 24)
    assert {item["model"] for item in dynamodb.items_get_many(item_ids=list(texts)).values()} == {one.id}

    # 5. Promoted while 200 items are queued: each done exactly once, by one version or the other.
    queued = [f"q-{n:03d}" for n in range(200)]
    dynamodb.items_put_many(items=[dynamodb.new_item(item_id=i, text=f"Queued review {i}.") for i in queued])
    calls = {"n": 0}
    predict = engine.predict_safe

    def promote_midway(batch):
        calls["n"] += 1
        if calls["n"] == 10:
            registry.model_promote(version_id=two.id, user=staff)
        return predict(batch)

    monkeypatch.setattr(engine, "predict_safe", promote_midway)
    _classify(engine, queued)
    done = dynamodb.items_get_many(item_ids=queued)
    assert {item["status"] for item in done.values()} == {"done"}
    assert {item["result_writes"] for item in done.values()} == {1}
    split = Counter(item["model"] for item in done.values())
    assert set(split) == {one.id, two.id} and sum(split.values()) == 200

    # 6. Rolled back: the next work is demo@1's again.
    registry.model_rollback(user=staff)
    again = ["r-1", "r-2"]
    dynamodb.items_put_many(items=[dynamodb.new_item(item_id=i, text="Fine.") for i in again])
    current = jobs.engine_loaded()
    _classify(current, again)
    assert {item["model"] for item in dynamodb.items_get_many(item_ids=again).values()} == {one.id}

    actions = set(AuditEvent.objects.filter(kind__in=["model", "data"]).values_list("action", flat=True))
    assert {"label", "model register", "model promote", "finetune start", "shadow start", "model rollback"} <= actions
