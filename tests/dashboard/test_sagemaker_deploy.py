"""manage.py sagemaker_deploy / sagemaker_undeploy against moto in server mode (real boto3 over HTTP).

moto makes an endpoint InService at once; the waiting logic's other outcomes (Failed with a reason,
still Creating at the deadline) are driven by a scripted DescribeEndpoint server.
"""

from __future__ import annotations

from io import StringIO

import boto3
import pytest
from django.core.management import CommandError, call_command

from dashboard.aws import sagemaker_deploy
from dashboard.exceptions import DeployError
from tests.dashboard.sagemaker_fakes import Reply, ScriptedAws

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/classifier-serve:1"
MODEL_DATA = "s3://my-models/xlnet/model.tar.gz"


@pytest.fixture
def sm(moto_server, settings):
    settings.SAGEMAKER_ENDPOINT_URL = moto_server.url
    settings.SAGEMAKER_EXECUTION_ROLE_ARN = ""
    yield boto3.client(
        "sagemaker",
        region_name=settings.AWS_REGION,
        endpoint_url=moto_server.url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    moto_server.reset()


def deploy(*extra: str, name: str = "xlnet-classifier") -> str:
    out = StringIO()
    call_command(
        "sagemaker_deploy",
        "--name", name,
        "--model-data", MODEL_DATA,
        "--image", IMAGE,
        "--instance-type", "ml.g4dn.xlarge",
        "--poll", "0.01",
        *extra,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


def undeploy(name: str = "xlnet-classifier") -> str:
    out = StringIO()
    call_command("sagemaker_undeploy", "--name", name, stdout=out)
    return out.getvalue()


def names(sm) -> tuple[list[str], list[str], list[str]]:
    return (
        [m["ModelName"] for m in sm.list_models()["Models"]],
        [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
    )


def test_deploy_creates_the_model_config_and_endpoint_and_waits_for_in_service(sm):
    output = deploy("--role-arn", ROLE, "--env", "CLASSIFIER_DTYPE=float16", "--instance-count", "2")

    [model], [config], [endpoint] = names(sm)
    assert endpoint == "xlnet-classifier"
    assert model == config and model.startswith("xlnet-classifier-")
    described_model = sm.describe_model(ModelName=model)
    assert described_model["ExecutionRoleArn"] == ROLE
    container = described_model["PrimaryContainer"]
    assert (container["Image"], container["ModelDataUrl"]) == (IMAGE, MODEL_DATA)
    assert container["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "CLASSIFIER_DTYPE": "float16"}
    [variant] = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    assert (variant["ModelName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        model,
        "ml.g4dn.xlarge",
        2,
    )
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointConfigName"] == config
    assert described["EndpointStatus"] == "InService"
    tags = sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"]
    assert {"Key": "classifier-console:deployment", "Value": "xlnet-classifier"} in tags
    assert f"Creating model {model}" in output
    assert "endpoint xlnet-classifier: InService" in output
    assert "Endpoint xlnet-classifier is InService" in output
    assert "SAGEMAKER_CLASSIFIER_ENDPOINT=xlnet-classifier" in output


def test_deploy_takes_the_role_from_the_settings(sm, settings):
    settings.SAGEMAKER_EXECUTION_ROLE_ARN = ROLE
    deploy()
    [model], _, _ = names(sm)
    assert sm.describe_model(ModelName=model)["ExecutionRoleArn"] == ROLE


def test_deploy_refuses_to_replace_an_existing_endpoint(sm):
    deploy("--role-arn", ROLE)
    before = names(sm)

    with pytest.raises(CommandError, match=r"already exists \(InService\).*sagemaker_undeploy --name xlnet-classifier"):
        deploy("--role-arn", ROLE)
    assert names(sm) == before


@pytest.mark.parametrize(
    ("args", "name", "message"),
    [
        (("--role-arn", ROLE), "bad_name", "Name 'bad_name' is not usable"),
        (("--role-arn", ROLE), "x" * 48, "at most 47 characters"),
        ((), "ok-name", "execution role ARN is needed"),
        (("--role-arn", ROLE, "--env", "NOEQUALS"), "ok-name", "--env takes KEY=VALUE"),
        (("--role-arn", ROLE, "--instance-count", "0"), "ok-name", "--instance-count must be at least 1"),
    ],
)
def test_deploy_rejects_bad_arguments_and_creates_nothing(sm, args, name, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        deploy(*args, name=name)
    assert names(sm) == ([], [], [])


def test_deploy_rejects_model_data_outside_s3(sm):
    out = StringIO()
    with pytest.raises(CommandError, match="must be an s3:// URI"):
        call_command(
            "sagemaker_deploy", "--name", "n", "--model-data", "/tmp/model.tar.gz", "--image", IMAGE,
            "--role-arn", ROLE, stdout=out,
        )  # fmt: skip
    assert names(sm) == ([], [], [])


def test_a_failed_step_removes_what_the_earlier_steps_made(sm):
    # moto validates instance types against its list, so this fails at CreateEndpointConfig.
    with pytest.raises(CommandError, match="Creating the endpoint config failed: ValidationException"):
        deploy("--role-arn", ROLE, "--instance-type", "ml.not-a-type")
    assert names(sm) == ([], [], [])


def test_no_wait_returns_once_the_endpoint_is_being_created(sm):
    output = deploy("--role-arn", ROLE, "--no-wait")
    assert "is being created" in output
    assert "InService" not in output
    assert names(sm)[2] == ["xlnet-classifier"]


def test_undeploy_removes_the_endpoint_its_config_its_model_and_leftovers(sm):
    deploy("--role-arn", ROLE)
    [model], [config], _ = names(sm)
    # A leftover of an earlier deployment of the same name, and resources that are not ours.
    container = {"Image": IMAGE, "ModelDataUrl": MODEL_DATA}
    sm.create_model(ModelName="xlnet-classifier-20240101-000000", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_model(ModelName="xlnet-classifier-v2", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_model(ModelName="other-model", ExecutionRoleArn=ROLE, PrimaryContainer=container)

    output = undeploy()

    models, configs, endpoints = names(sm)
    assert endpoints == [] and configs == []
    assert sorted(models) == ["other-model", "xlnet-classifier-v2"]
    assert "Deleting endpoint xlnet-classifier (InService)" in output
    assert f"endpoint config {config}" in output
    assert f"model {model}" in output and "model xlnet-classifier-20240101-000000" in output


def test_undeploy_is_safe_to_run_again(sm):
    deploy("--role-arn", ROLE)
    undeploy()

    output = undeploy()

    assert "No endpoint named xlnet-classifier." in output
    assert "Nothing to remove for xlnet-classifier." in output


def test_undeploy_rejects_a_bad_name(sm):
    with pytest.raises(CommandError, match="is not usable"):
        undeploy("bad name")


# --- waiting: the outcomes moto cannot produce --------------------------------------------------


def _describe(status: str, reason: str | None = None) -> Reply:
    body = {
        "EndpointName": "clf",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/clf",
        "EndpointConfigName": "clf-20250101-000000",
        "EndpointStatus": status,
        "CreationTime": 1735689600,
        "LastModifiedTime": 1735689600,
    }
    if reason:
        body["FailureReason"] = reason
    return Reply(body=body)


def test_waiting_reports_each_status_and_a_failure_with_its_reason(settings):
    lines: list[str] = []
    replies = (_describe("Creating"), _describe("Creating"), _describe("Failed", "Ping check failed: 500"))
    with ScriptedAws(*replies) as fake:
        settings.SAGEMAKER_ENDPOINT_URL = fake.url
        with pytest.raises(DeployError, match=r"is Failed: Ping check failed: 500\..*/aws/sagemaker/Endpoints/clf"):
            sagemaker_deploy.endpoint_wait(name="clf", poll=0, progress=lines.append, sleep=lambda s: None)

    assert [line.split("] ")[1] for line in lines] == ["endpoint clf: Creating", "endpoint clf: Failed"]
    assert all(request.headers["X-Amz-Target"] == "SageMaker.DescribeEndpoint" for request in fake.requests)
    assert len(fake.requests) == 3


def test_waiting_gives_up_at_the_deadline_with_what_to_do(settings):
    with ScriptedAws(_describe("Creating")) as fake:
        settings.SAGEMAKER_ENDPOINT_URL = fake.url
        # The clock in the message is whatever the call took, 0:00 unless the machine is very busy.
        with pytest.raises(DeployError, match=r"still Creating after \d+:\d\d; it may still finish\..*undeploy"):
            sagemaker_deploy.endpoint_wait(name="clf", timeout=0, sleep=lambda s: None)


def test_waiting_notices_an_endpoint_deleted_meanwhile(sm):
    with pytest.raises(DeployError, match="disappeared while waiting"):
        sagemaker_deploy.endpoint_wait(name="never-made", sleep=lambda s: None)
