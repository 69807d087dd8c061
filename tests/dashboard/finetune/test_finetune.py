"""Fine-tuning from the console against real Redis, DynamoDB Local and the demo model: a run that
succeeds registers one candidate; a cancelled, failed or dead one registers none and leaves no model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.conf import settings as live_settings
from rq.job import Job, JobStatus

from classifier import training
from classifier.contracts import FINETUNE_CANCEL_SUFFIX, FINETUNE_PROGRESS_PREFIX
from classifier.worker import worker_run
from dashboard.exceptions import FineTuneRefused
from dashboard.finetune import data, services
from dashboard.finetune.models import FineTuneRun
from dashboard.models import AuditEvent
from dashboard.power.fleet import queue_counts
from dashboard.queue import redis_connection
from dashboard.registry.models import ModelVersion

pytestmark = pytest.mark.django_db

GOOD = ["A lovely stay, the staff were kind.", "Great food and a spotless room.", "Wonderful, I would come back."]
BAD = ["The room was filthy and cold.", "Rude staff and a broken shower.", "Awful noise all night long."]


def _rows(copies: int = 4) -> list[list]:
    return [[f"{text} ({n})", 1, "positive"] for n in range(copies) for text in GOOD] + [
        [f"{text} ({n})", 0, "negative"] for n in range(copies) for text in BAD
    ]


@pytest.fixture(autouse=True)
def _output(settings, tmp_path, results_table):  # the worker reconciles the results table as it starts
    settings.FINETUNE_OUTPUT_DIR = str(tmp_path / "finetuned")


def _start(staff, base: str, **parameters) -> FineTuneRun:
    return services.finetune_start(
        user=staff,
        name="demo",
        base=base,
        rows=data.rows_check(_rows()),
        data_summary="24 test rows",
        parameters={"epochs": 1, "batch_size": 8, "max_length": 32} | parameters,
    )


def _work() -> None:
    worker_run(queue_names=[live_settings.FINETUNE_QUEUE], connection=redis_connection(), engine=None, burst=True)


def test_a_run_trains_reports_and_registers_one_candidate(staff, demo_model_dir, redis_conn):
    run = _start(staff, str(demo_model_dir))
    assert run.status == "queued" and queue_counts()["queued"] == 1  # counted as work by the power policy

    _work()
    run = services.finetune_sync(run)
    services.finetune_sync(run)  # again: still one candidate

    assert run.status == "succeeded" and run.model_version is not None
    version = ModelVersion.objects.get()
    assert (version.id, version.status, version.source) == ("demo@1", "candidate", run.output)
    assert version.metrics["validation"]["support"] == 4  # the fixed 20 % of each label's 12, rounded down
    assert version.parameters["epochs"] == 1 and "run " + run.id in version.training_data
    assert (Path(run.output) / "config.json").is_file()
    progress = services.finetune_progress(run)
    assert progress["status"] == "succeeded" and progress["step"] == progress["total"]
    assert [p.name for p in Path(run.output).parent.iterdir()] == [Path(run.output).name]  # no work dir left
    assert AuditEvent.objects.filter(action="finetune start", target=run.id).exists()


def test_a_run_cancelled_while_it_trains_saves_and_registers_nothing(staff, demo_model_dir, redis_conn, monkeypatch):
    run = _start(staff, str(demo_model_dir), epochs=3)
    step = training.optimizer_step

    def step_then_cancel(*args, **kwargs):
        step(*args, **kwargs)
        services.finetune_cancel(run=FineTuneRun.objects.get(pk=run.pk), user=staff)

    monkeypatch.setattr(training, "optimizer_step", step_then_cancel)
    _work()
    run = services.finetune_sync(FineTuneRun.objects.get(pk=run.pk))

    assert run.status == "cancelled" and run.cancel_requested_at is not None
    assert not ModelVersion.objects.exists()
    assert not Path(run.output).exists() and list(Path(run.output).parent.iterdir()) == []


def test_a_queued_run_cancelled_never_starts(staff, demo_model_dir, redis_conn):
    run = _start(staff, str(demo_model_dir))
    run = services.finetune_cancel(run=run, user=staff)
    assert run.status == "cancelled"
    _work()
    assert services.finetune_progress(run) == {} and not ModelVersion.objects.exists()
    with pytest.raises(FineTuneRefused, match="cancelled already"):
        services.finetune_cancel(run=run, user=staff)


def test_a_run_that_crashes_is_failed_with_its_reason_and_no_model(staff, redis_conn, tmp_path):
    run = _start(staff, str(tmp_path / "no-such-base"))
    _work()
    run = services.finetune_sync(run)
    assert run.status == "failed" and "ModelLoadError" in run.error and "no-such-base" in run.error
    assert not ModelVersion.objects.exists() and not Path(run.output).exists()


def test_a_run_whose_worker_died_is_failed(staff, demo_model_dir, redis_conn):
    run = _start(staff, str(demo_model_dir))
    FineTuneRun.objects.filter(pk=run.pk).update(status="running")
    job = Job.fetch(run.job_id, connection=redis_connection())
    job.set_status(JobStatus.FAILED)
    run = services.finetune_sync(FineTuneRun.objects.get(pk=run.pk))
    assert run.status == "failed" and run.error.startswith("The worker stopped during the run")


def test_a_registered_version_as_base_trains_from_its_source(staff, demo_model_dir, redis_conn):
    from dashboard.registry.services import model_register

    model_register(name="demo", source=str(demo_model_dir), user=staff)
    run = _start(staff, "demo@1")
    assert run.base_source == str(demo_model_dir)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"epochs": 0}, "epochs must be between"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"optimizer": "sgd"}, "Unknown"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_queued(staff, demo_model_dir, redis_conn, parameters, message):
    with pytest.raises(FineTuneRefused, match=message):
        _start(staff, str(demo_model_dir), **parameters)
    assert not FineTuneRun.objects.exists()


def test_an_uploaded_csv_is_checked_with_the_line_that_is_wrong():
    assert data.rows_from_upload(b"text,label,label_name\nfine,1,positive\nbad,0,negative\n", filename="t.csv") == [
        ["fine", 1, "positive"],
        ["bad", 0, "negative"],
    ]
    with pytest.raises(FineTuneRefused, match=r"t\.csv, line 3: label 'x' is not an integer"):
        data.rows_from_upload(b"text,label\nfine,1\nbad,x\n", filename="t.csv")
    with pytest.raises(FineTuneRefused, match="missing column"):
        data.rows_from_upload(b"words,label\nfine,1\n", filename="t.csv")


def test_the_combined_rows_must_agree_and_have_enough_of_each_label(settings):
    with pytest.raises(FineTuneRefused, match="called both"):
        data.rows_check([["a", 0, "negative"], ["b", 0, "bad"], ["c", 1, "positive"]])
    with pytest.raises(FineTuneRefused, match="at least 5 rows"):
        data.rows_check([["a", 0, "negative"], ["c", 1, "positive"]])
    with pytest.raises(FineTuneRefused, match=r"labels 0\.\.K-1"):
        data.rows_check([["a", 1, "positive"]] * 6)


def test_staff_start_a_run_from_the_models_page_and_follow_it(client, staff, user, demo_model_dir, redis_conn):
    client.force_login(staff)
    upload = io.BytesIO(
        ("text,label,label_name\n" + "".join(f'"{text}",{label},{name}\n' for text, label, name in _rows())).encode()
    )
    upload.name = "reviews.csv"

    page = client.post(
        "/models/finetunes/",
        {"name": "demo", "base": str(demo_model_dir), "file": upload, "epochs": "1", "batch_size": "8"},
        follow=True,
    ).content.decode()

    assert "Fine-tune queued on 24 rows" in page and 'data-status="queued"' in page
    assert "24 rows of reviews.csv" in page
    _work()
    run = FineTuneRun.objects.get()
    done = client.get(f"/models/finetunes/{run.id}/").content.decode()
    assert 'data-status="succeeded"' in done and "Registered <a" in done and "demo@1" in done
    refused = client.post("/models/finetunes/", {"name": "demo", "base": str(demo_model_dir)}, follow=True)
    assert "Upload a training CSV, or train on the items people labelled" in refused.content.decode()
    client.force_login(user)
    assert client.get(f"/models/finetunes/{run.id}/").status_code == 403


def test_the_cancel_flag_is_the_one_the_worker_reads(staff, demo_model_dir, redis_conn):
    run = _start(staff, str(demo_model_dir))
    FineTuneRun.objects.filter(pk=run.pk).update(status="running")
    Job.fetch(run.job_id, connection=redis_connection()).set_status(JobStatus.STARTED)
    services.finetune_cancel(run=FineTuneRun.objects.get(pk=run.pk), user=staff)
    assert redis_conn.exists(FINETUNE_PROGRESS_PREFIX + run.id + FINETUNE_CANCEL_SUFFIX)
    assert FineTuneRun.objects.get(pk=run.pk).status == "running"  # it stops itself at its next step


def _api(client, method: str, path: str, headers, body=None):
    if body is None:
        return getattr(client, method)(path, headers=headers)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json", headers=headers)


def test_the_api_starts_follows_and_cancels_a_run_for_staff(client, staff, user, demo_model_dir, redis_conn):
    from dashboard.services import api_token_create

    auth = {"Authorization": f"Bearer {api_token_create(user=staff, name='t')[1]}"}
    rows = [{"text": text, "label": label, "label_name": name} for text, label, name in _rows()]
    body = {"name": "demo", "base": str(demo_model_dir), "rows": rows, "parameters": {"epochs": 1, "batch_size": 8}}

    started = _api(client, "post", "/api/v1/finetunes", auth, body)

    assert started.status_code == 202
    run_id = started.json()["id"]
    assert (started.json()["status"], started.json()["percent"]) == ("queued", 0.0)
    _work()
    done = _api(client, "get", f"/api/v1/finetunes/{run_id}", auth).json()
    assert (done["status"], done["candidate"], done["percent"]) == ("succeeded", "demo@1", 100.0)
    assert done["step"] == done["total"] and done["loss"] is not None
    assert _api(client, "post", f"/api/v1/finetunes/{run_id}/cancel", auth).status_code == 409
    second = _api(client, "post", "/api/v1/finetunes", auth, body).json()["id"]
    cancelled = _api(client, "post", f"/api/v1/finetunes/{second}/cancel", auth).json()
    assert cancelled["status"] == "cancelled"
    assert _api(client, "post", "/api/v1/finetunes", auth, body | {"rows": []}).status_code == 400
    assert _api(client, "post", "/api/v1/finetunes", auth, body | {"parameters": {"epochs": 99}}).status_code == 400
    assert _api(client, "get", "/api/v1/finetunes/nope", auth).status_code == 404
    user_auth = {"Authorization": f"Bearer {api_token_create(user=user, name='t')[1]}"}
    assert _api(client, "post", "/api/v1/finetunes", user_auth, body).status_code == 403
    assert _api(client, "get", f"/api/v1/finetunes/{run_id}", user_auth).status_code == 403
