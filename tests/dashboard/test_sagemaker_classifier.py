"""CLASSIFIER_BACKEND=sagemaker: the same RQ job and result path, with our endpoint doing the work.

The endpoint is moto's sagemaker-runtime with seeded answers, a scripted server for SageMaker's
errors, or a shim in front of the real classifier/serve.py with the demo model.
"""

from __future__ import annotations

import json
import threading

import pytest

from classifier import jobs, serve
from classifier.sagemaker_backend import SageMakerEngine
from dashboard.aws import dynamodb
from tests.dashboard.sagemaker_fakes import MotoServer, Reply, RuntimeShim, ScriptedAws, aws_error

pytestmark = pytest.mark.django_db

ENDPOINT = "xlnet-classifier"


@pytest.fixture
def sagemaker_backend(settings):
    settings.CLASSIFIER_BACKEND = "sagemaker"
    settings.SAGEMAKER_CLASSIFIER_ENDPOINT = ENDPOINT
    settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS = 1
    jobs.engine_set(None)
    yield settings
    jobs.engine_set(None)


@pytest.fixture
def moto(settings):
    server = MotoServer().start()
    settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = server.url
    yield server
    server.stop()


def _queued(*texts: str) -> list[str]:
    ids = []
    for number, text in enumerate(texts):
        item_id = f"item-{number}"
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=text))
        ids.append(item_id)
    return ids


def _prediction(label: int, confidence: float) -> dict:
    return {
        "label": label,
        "label_name": ["negative", "positive"][label],
        "confidence": confidence,
        "probabilities": [1 - confidence, confidence] if label else [confidence, 1 - confidence],
    }


def test_the_job_uses_the_endpoint_and_writes_results_as_usual(results_table, sagemaker_backend, moto):
    moto.seed_invoke_results(
        {
            "model": "/opt/ml/model",
            "labels": ["negative", "positive"],
            "predictions": [_prediction(1, 0.97), _prediction(0, 0.88)],
        }
    )
    ids = _queued("Lovely staff and a great meal.", "Broken on arrival.")

    counts = jobs.classify_items(ids)

    assert counts == {"claimed": 2, "done": 2, "failed": 0}
    positive, negative = (dynamodb.item_get(item_id=i) for i in ids)
    assert (positive["status"], positive["label"], positive["label_name"]) == ("done", 1, "positive")
    assert (negative["status"], negative["label"], negative["label_name"]) == ("done", 0, "negative")
    assert positive["confidence"] == pytest.approx(0.97)
    assert positive["probabilities"] == pytest.approx({"negative": 0.03, "positive": 0.97})
    assert negative["probabilities"] == pytest.approx({"negative": 0.88, "positive": 0.12})
    assert positive["model"] == negative["model"] == f"sagemaker:{ENDPOINT}"


def test_an_endpoint_that_names_no_classes_gets_them_named_by_id(results_table, sagemaker_backend, settings):
    # An endpoint image built before serve.py answered with `labels`: still every class, by its id.
    with ScriptedAws(Reply(body={"model": "m", "predictions": [_prediction(1, 0.9)]})) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        [item_id] = _queued("Fine text.")
        jobs.classify_items([item_id])

    item = dynamodb.item_get(item_id=item_id)
    assert (item["status"], item["label_name"]) == ("done", "positive")
    assert item["probabilities"] == pytest.approx({"LABEL_0": 0.1, "LABEL_1": 0.9})


def test_the_inference_worker_runs_jobs_through_the_endpoint_without_a_local_model(
    results_table, queue, sagemaker_backend, moto, settings
):
    from io import StringIO

    from django.core.management import call_command

    from dashboard.queue import classify_enqueue

    settings.CLASSIFIER_MODEL = "/nonexistent/model"  # loading it would fail the worker at start
    moto.seed_invoke_results({"model": "m", "predictions": [_prediction(1, 0.91)]})
    [item_id] = _queued("Great value, very happy.")
    classify_enqueue(item_ids=[item_id])
    out = StringIO()

    call_command("inference_worker", "--burst", stdout=out)

    assert f"Classifying through SageMaker endpoint {ENDPOINT}" in out.getvalue()
    item = dynamodb.item_get(item_id=item_id)
    assert (item["status"], item["label_name"], item["model"]) == ("done", "positive", f"sagemaker:{ENDPOINT}")


def test_the_worker_backend_is_the_default_and_never_calls_sagemaker(settings):
    assert settings.CLASSIFIER_BACKEND == "worker"
    sentinel = object()
    jobs.engine_set(sentinel)
    try:
        assert jobs.engine_get() is sentinel
    finally:
        jobs.engine_set(None)


def test_the_sagemaker_backend_wins_over_a_loaded_local_model(sagemaker_backend):
    jobs.engine_set(object())
    engine = jobs.engine_get()
    assert isinstance(engine, SageMakerEngine)
    assert engine.model_name == f"sagemaker:{ENDPOINT}"


def test_the_job_classifies_through_our_real_serving_app(results_table, sagemaker_backend, settings, demo_model_dir):
    from classifier.engine import load_engine

    demo = load_engine(str(demo_model_dir), device="cpu", dtype="float32")
    app = serve.create_app(str(demo_model_dir), loader=lambda model: demo)
    app.slot.wait(10)
    server = serve.make_server_for(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SAGEMAKER_CLASSIFIER_BATCH = 2
    try:
        with RuntimeShim(f"http://127.0.0.1:{server.server_port}") as shim:
            settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = shim.url
            ids = _queued(
                "I love this, it is wonderful and works perfectly.",
                "This is terrible, I hate it. It broke after a day.",
                "Great value, very happy.",
                "Awful service and a rude waiter; never again.",
                "Lovely staff and a great meal.",
            )
            counts = jobs.classify_items(ids)
    finally:
        server.shutdown()
        server.server_close()

    assert counts == {"claimed": 5, "done": 5, "failed": 0}
    items = [dynamodb.item_get(item_id=i) for i in ids]
    assert [item["label_name"] for item in items] == ["positive", "negative", "positive", "negative", "positive"]
    expected = demo.predict([item["text"] for item in items])
    assert [item["confidence"] for item in items] == pytest.approx([e.confidence for e in expected], abs=1e-5)
    for item, want in zip(items, expected, strict=True):
        named = dict(zip(("negative", "positive"), want.probabilities, strict=True))
        assert item["probabilities"] == pytest.approx(named, abs=1e-5)
    # Five texts in calls of at most SAGEMAKER_CLASSIFIER_BATCH=2, all to the configured endpoint.
    assert shim.calls == [(ENDPOINT, 2), (ENDPOINT, 2), (ENDPOINT, 1)]


def test_a_text_the_endpoint_could_not_classify_fails_alone(results_table, sagemaker_backend, settings):
    answer = {"model": "m", "predictions": [_prediction(1, 0.9), {"error": "RuntimeError: CUDA error"}]}
    with ScriptedAws(Reply(body=answer)) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        ids = _queued("Fine text.", "Poison text.")
        counts = jobs.classify_items(ids)

    assert counts == {"claimed": 2, "done": 1, "failed": 1}
    good, bad = (dynamodb.item_get(item_id=i) for i in ids)
    assert good["status"] == "done"
    assert bad["status"] == "failed"
    assert "RuntimeError: CUDA error" in bad["error"]
    assert bad["model"] == f"sagemaker:{ENDPOINT}"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            aws_error(424, "ModelError", "err", OriginalStatusCode=400, OriginalMessage='"inputs" must be a list.'),
            '"inputs" must be a list.',
        ),
        (
            aws_error(424, "ModelError", "err", OriginalStatusCode=500, OriginalMessage="Internal error: KeyError"),
            "Internal error: KeyError",
        ),
        (aws_error(424, "ModelError", "err", OriginalMessage="no status given"), "no status given"),
        (Reply(body={"predictions": [_prediction(1, 0.9)]}), "returned 1 predictions for 2 texts"),
        (Reply(body={"labels": [1, 0]}), "without a predictions list"),
        (Reply(body={"labels": [1, 0], "predictions": [_prediction(1, 0.9)] * 2}), "malformed labels"),
    ],
)
def test_an_endpoint_failure_fails_every_item_it_carried_with_the_reason(
    results_table, sagemaker_backend, settings, reply, reason
):
    with ScriptedAws(reply) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        ids = _queued("One.", "Two.")
        counts = jobs.classify_items(ids)

    assert counts == {"claimed": 2, "done": 0, "failed": 2}
    for item_id in ids:
        item = dynamodb.item_get(item_id=item_id)
        assert item["status"] == "failed"
        assert reason in item["error"]
        assert item["label"] is None


def _without_probabilities(label: int, confidence: float) -> dict:
    return {key: value for key, value in _prediction(label, confidence).items() if key != "probabilities"}


@pytest.mark.parametrize(
    ("labels", "entry"),
    [
        (["negative", "positive"], _without_probabilities(1, 0.9)),
        (["negative", "positive"], _prediction(1, 0.9) | {"probabilities": [0.9]}),
        (["negative", "positive", "neutral"], _prediction(1, 0.9)),
        ([], _prediction(1, 0.9) | {"probabilities": []}),
    ],
    ids=["no probabilities", "too few for its label", "fewer than the labels", "none at all"],
)
def test_a_prediction_without_every_classs_probability_fails_its_item(
    results_table, sagemaker_backend, settings, labels, entry
):
    classes = max(len(labels), 2)
    whole = {
        "label": 0,
        "label_name": "negative",
        "confidence": 0.8,
        "probabilities": [0.8] + [0.2 / (classes - 1)] * (classes - 1),
    }
    answer = {"model": "m", "labels": labels, "predictions": [entry, whole]}
    with ScriptedAws(Reply(body=answer)) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        ids = _queued("Incomplete.", "Complete.")
        counts = jobs.classify_items(ids)

    assert counts == {"claimed": 2, "done": 1, "failed": 1}
    incomplete, complete = (dynamodb.item_get(item_id=i) for i in ids)
    assert incomplete["status"] == "failed" and "malformed prediction" in incomplete["error"]
    assert incomplete["probabilities"] is None
    assert complete["status"] == "done" and len(complete["probabilities"]) == classes


def test_one_failed_call_does_not_fail_the_other_batches(results_table, sagemaker_backend, settings):
    settings.SAGEMAKER_CLASSIFIER_BATCH = 1
    replies = (
        Reply(body={"predictions": [_prediction(1, 0.8)]}),
        aws_error(424, "ModelError", "err", OriginalStatusCode=400, OriginalMessage="Bad input."),
        Reply(body={"predictions": [_prediction(0, 0.7)]}),
    )
    with ScriptedAws(*replies) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        ids = _queued("One.", "Two.", "Three.")
        counts = jobs.classify_items(ids)

    assert counts == {"claimed": 3, "done": 2, "failed": 1}
    assert [dynamodb.item_get(item_id=i)["status"] for i in ids] == ["done", "failed", "done"]


def test_the_backend_setting_is_checked_at_start_up():
    import subprocess
    import sys
    from pathlib import Path

    code = "import django; django.setup()"
    for env, message in (
        ({"CLASSIFIER_BACKEND": "lambda"}, "CLASSIFIER_BACKEND must be 'worker' or 'sagemaker'"),
        ({"CLASSIFIER_BACKEND": "sagemaker"}, "needs SAGEMAKER_CLASSIFIER_ENDPOINT"),
    ):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "webapp.settings", **env},
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert result.returncode != 0
        assert message in result.stderr


# --- transient failures: retried with backoff, never a failed item --------------------------


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it: retries without real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(sagemaker_backend):
    """The worker's engine, installed as `manage.py inference_worker` does, with a fake clock."""
    fake = FakeClock()
    jobs.engine_set(
        SageMakerEngine(
            ENDPOINT,
            batch_size=sagemaker_backend.SAGEMAKER_CLASSIFIER_BATCH,
            retry_seconds=120.0,
            clock=fake.monotonic,
            sleep=fake.sleep,
        )
    )
    return fake


NOT_READY = [
    aws_error(400, "ThrottlingException", "Rate exceeded"),
    aws_error(429, "ThrottlingException", "Rate exceeded"),
    aws_error(400, "ValidationError", f"Endpoint {ENDPOINT} of account 123456789012 not found."),
    aws_error(400, "ValidationError", f"Endpoint {ENDPOINT} is not in service."),
    aws_error(429, "ModelNotReadyException", "Model is loading"),
    aws_error(503, "ServiceUnavailable", "Try later"),
    aws_error(500, "InternalFailure", "Internal failure"),
    aws_error(424, "ModelError", "err", OriginalStatusCode=503, OriginalMessage="Not ready: the model is loading."),
]


@pytest.mark.parametrize("transient", NOT_READY)
def test_a_transient_failure_is_retried_until_the_endpoint_answers(results_table, clock, settings, transient):
    answer = Reply(body={"predictions": [_prediction(1, 0.9), _prediction(0, 0.8)]})
    with ScriptedAws(transient, transient, transient, answer) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        ids = _queued("One.", "Two.")
        counts = jobs.classify_items(ids)

    assert counts == {"claimed": 2, "done": 2, "failed": 0}
    assert [dynamodb.item_get(item_id=i)["status"] for i in ids] == ["done", "done"]
    assert len(fake.requests) == 4
    # Three waits, each a random share of a window that doubles: 1 s, 2 s, 4 s.
    assert len(clock.sleeps) == 3
    assert all(0 <= wait <= 0.5 * 2 ** (n + 1) for n, wait in enumerate(clock.sleeps))


def test_a_read_timeout_is_retried(results_table, clock, settings):
    settings.SAGEMAKER_INVOKE_TIMEOUT = 0.3
    answer = Reply(body={"predictions": [_prediction(1, 0.9)]})
    with ScriptedAws(Reply(body={"predictions": [_prediction(0, 0.1)]}, delay=1.5), answer) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        [item_id] = _queued("Slow the first time.")
        counts = jobs.classify_items([item_id])

    assert counts == {"claimed": 1, "done": 1, "failed": 0}
    item = dynamodb.item_get(item_id=item_id)
    assert (item["status"], item["label"]) == ("done", 1)  # the second answer, not the one that came too late
    assert len(clock.sleeps) == 1


def test_a_permanent_model_error_fails_the_items_at_once_without_retrying(results_table, clock, settings):
    refusal = aws_error(424, "ModelError", "err", OriginalStatusCode=400, OriginalMessage="inputs[0] is empty.")
    with ScriptedAws(refusal) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        [item_id] = _queued("Anything.")
        counts = jobs.classify_items([item_id])

    assert counts == {"claimed": 1, "done": 0, "failed": 1}
    assert "inputs[0] is empty." in dynamodb.item_get(item_id=item_id)["error"]
    assert len(fake.requests) == 1
    assert clock.sleeps == []


def test_a_transient_failure_outlasting_the_budget_fails_the_job_not_the_items(results_table, clock, settings):
    from dashboard.exceptions import EndpointThrottled

    with ScriptedAws(aws_error(400, "ThrottlingException", "Rate exceeded")) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        ids = _queued("One.", "Two.")
        with pytest.raises(EndpointThrottled, match=r"still failing after \d+ attempt\(s\) over \d+ s"):
            jobs.classify_items(ids)

    assert sum(clock.sleeps) <= 120.0  # bounded by SAGEMAKER_RETRY_SECONDS, on the injected clock
    assert len(fake.requests) >= 5
    for item_id in ids:
        item = dynamodb.item_get(item_id=item_id)
        assert item["status"] == "running"  # still held by the job: its retry, or the reconciler, takes it back
        assert item.get("error") is None


def test_rq_runs_the_job_again_when_the_endpoint_outlasts_retries(results_table, queue, sagemaker_backend, settings):
    from io import StringIO

    from django.core.management import call_command

    from dashboard.queue import classify_enqueue

    settings.SAGEMAKER_RETRY_SECONDS = 0.0  # the first throttling answer ends the run: nothing sleeps
    settings.RESULT_WRITE_BACKOFF_S = 0.0  # and RQ's next run starts without a pause
    answer = Reply(body={"predictions": [_prediction(1, 0.93)]})
    with ScriptedAws(aws_error(400, "ThrottlingException", "Rate exceeded"), answer) as fake:
        settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = fake.url
        [item_id] = _queued("Worth the wait.")
        job_id = classify_enqueue(item_ids=[item_id])
        call_command("inference_worker", "--burst", stdout=StringIO())

    item = dynamodb.item_get(item_id=item_id)
    assert (item["status"], item["label_name"]) == ("done", "positive")
    assert len(fake.requests) == 2
    assert queue.fetch_job(job_id).get_status() == "finished"  # one job, run twice


# --- a scaled-to-zero endpoint: the job's items wait while it starts ------------------------


@pytest.mark.django_db
def test_a_job_waits_for_a_scaled_to_zero_endpoint_to_start_then_classifies(
    results_table, sagemaker_backend, settings, fake_endpoints
):
    fake = FakeClock()
    answer = json.dumps({"predictions": [_prediction(1, 0.9)]}).encode()
    backend = fake_endpoints(ENDPOINT, state="ScaledToZero", answer=answer)

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if fake.now - 1000.0 >= 60:
            backend.finish(ENDPOINT)

    jobs.engine_set(
        SageMakerEngine(ENDPOINT, retry_seconds=120.0, start_wait_seconds=480.0, clock=fake.monotonic, sleep=sleep)
    )
    ids = _queued("One.")
    counts = jobs.classify_items(ids)

    assert counts == {"claimed": 1, "done": 1, "failed": 0}
    assert backend.count("scale_up") == 1 and fake.sleeps == [15.0, 15.0, 15.0, 15.0]
    assert backend.count("invoke") == 1  # nothing was sent before it was in service


@pytest.mark.django_db
def test_a_paused_endpoint_fails_the_run_not_the_items(results_table, sagemaker_backend, settings, fake_endpoints):
    from dashboard.endpoints import records
    from dashboard.exceptions import EndpointPaused

    fake_endpoints(ENDPOINT, state="ScaledToZero")
    records.pause_set(ENDPOINT, by="sam", now=0.0)
    jobs.engine_set(SageMakerEngine(ENDPOINT, retry_seconds=120.0, start_wait_seconds=480.0))
    ids = _queued("One.")

    with pytest.raises(EndpointPaused):
        jobs.classify_items(ids)
    assert dynamodb.item_get(item_id=ids[0])["status"] == "running"  # still claimed, for RQ's next run
