"""`sagemaker_deploy` end to end without AWS: deploy our classifier as a local endpoint, see its status,
invoke it (directly and as CLASSIFIER_BACKEND=sagemaker), undeploy it."""

from __future__ import annotations

import io
import json

import psutil
import pytest
from django.core.management import CommandError, call_command

from classifier.sagemaker_backend import SageMakerEngine
from dashboard.endpoints.base import IN_SERVICE, SCALED_TO_ZERO
from dashboard.endpoints.local import KEY_PREFIX


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_deploy_status_invoke_classify_and_undeploy_locally(local_endpoints, demo_model_dir, redis_conn):
    deployed = _run(
        "sagemaker_deploy", "--name", "xlnet-local", "--model-dir", str(demo_model_dir), "--timeout", "240"
    )  # fmt: skip
    assert "Endpoint xlnet-local is InService" in deployed
    assert "xlnet-local: InService (1 × local process (classification))" in _run("sagemaker_status")

    answer = json.loads(_run("sagemaker_invoke", "--name", "xlnet-local", "--body", '{"inputs": ["I love it"]}'))
    assert answer["predictions"][0]["label_name"] == "positive"

    # The classifier engine of CLASSIFIER_BACKEND=sagemaker, through the same backend.
    engine = SageMakerEngine("xlnet-local", batch_size=2, retry_seconds=5)
    outcomes = engine.predict_safe(["I love it", "I hate it", "It is terrible"])
    assert [outcome.label_name for outcome in outcomes] == ["positive", "negative", "negative"]
    assert engine.id2label == {0: "negative", 1: "positive"}

    pid = int(local_endpoints.record("xlnet-local")["pid"])
    assert "Removed: local endpoint xlnet-local" in _run("sagemaker_undeploy", "--name", "xlnet-local")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "xlnet-local" not in local_endpoints.endpoint_names()
    assert not redis_conn.exists(KEY_PREFIX + "xlnet-local")
    assert "Nothing to remove for xlnet-local" in _run("sagemaker_undeploy", "--name", "xlnet-local")


@pytest.mark.django_db
def test_the_classifier_engine_starts_a_scaled_to_zero_local_endpoint_then_classifies(local_endpoints, settings):
    name = settings.LOCAL_CLASSIFIER_ENDPOINT
    assert local_endpoints.endpoint_describe(name).state == SCALED_TO_ZERO
    engine = SageMakerEngine(name, retry_seconds=30, start_wait_seconds=180)
    outcomes = engine.predict_safe(["I love it"])
    assert [outcome.label_name for outcome in outcomes] == ["positive"]
    assert local_endpoints.endpoint_describe(name).state == IN_SERVICE


def test_deploying_locally_needs_a_model_directory(local_endpoints, tmp_path):
    with pytest.raises(CommandError, match="--model-dir is required"):
        _run("sagemaker_deploy", "--name", "x")
    with pytest.raises(CommandError, match="holds no model"):
        _run("sagemaker_deploy", "--name", "x", "--model-dir", str(tmp_path))
    with pytest.raises(CommandError, match="is not usable"):
        _run("sagemaker_deploy", "--name", "bad_name", "--model-dir", str(tmp_path))


def test_a_built_in_endpoint_is_stopped_not_removed_by_undeploy(local_endpoints, settings):
    name = settings.LOCAL_CLASSIFIER_ENDPOINT
    assert "comes from the settings" in _run("sagemaker_undeploy", "--name", name)
    assert name in local_endpoints.endpoint_names()


def test_with_the_aws_backend_deploy_still_needs_the_image_and_model_data(settings):
    settings.SAGEMAKER_BACKEND = "aws"
    with pytest.raises(CommandError, match="--model-data is required with SAGEMAKER_BACKEND=aws"):
        _run("sagemaker_deploy", "--name", "x", "--image", "i")
