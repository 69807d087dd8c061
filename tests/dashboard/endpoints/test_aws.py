"""AwsEndpoints against moto in server mode (real boto3 over HTTP): scale to zero and back, for both kinds.

moto makes an endpoint InService the moment it is created, so what happens while one starts is tested
with the in-memory backend (test_demand.py); here: which AWS calls are made, and what they leave behind.
"""

from __future__ import annotations

import threading

import boto3
import pytest

from dashboard.aws import autoscaling, sagemaker_deploy
from dashboard.endpoints import records
from dashboard.endpoints.aws import AwsEndpoints
from dashboard.endpoints.base import ASYNC, FAILED, IN_SERVICE, SCALED_TO_ZERO
from dashboard.exceptions import EndpointStarting
from tests.dashboard.sagemaker_fakes import GPT2_ANSWER

CONFIG = "gpt2-demo-20250101-000000"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@pytest.fixture
def sm(moto_server, settings, redis_conn):
    settings.SAGEMAKER_BACKEND = "aws"
    settings.SAGEMAKER_ENDPOINT_URL = moto_server.url
    settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = moto_server.url
    settings.APPLICATION_AUTOSCALING_ENDPOINT_URL = moto_server.url
    settings.SAGEMAKER_ENDPOINTS = ["gpt2-demo", "xlnet-async"]
    settings.SAGEMAKER_ENDPOINT_KINDS = {"xlnet-async": ASYNC}
    client = boto3.client(
        "sagemaker",
        region_name=settings.AWS_REGION,
        endpoint_url=moto_server.url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    yield client
    moto_server.reset()


def deployed(sm, name: str, config: str, **extra) -> None:
    sm.create_model(ModelName=config, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "hf-tgi:1"})
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": config,
                "InstanceType": "ml.g4dn.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        **extra,
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)


def create_endpoint_calls() -> list[dict]:
    calls: list[dict] = []
    sagemaker_deploy.client().meta.events.register(
        "provide-client-params.sagemaker.CreateEndpoint", lambda params, **kwargs: calls.append(dict(params))
    )
    return calls


def test_a_real_time_endpoint_scaled_to_zero_is_deleted_with_its_config_kept(sm):
    deployed(sm, "gpt2-demo", CONFIG)
    backend = AwsEndpoints()
    assert backend.endpoint_describe("gpt2-demo").state == IN_SERVICE

    backend.scale_to_zero("gpt2-demo")

    assert sm.list_endpoints()["Endpoints"] == []
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [CONFIG]
    endpoint = backend.endpoint_describe("gpt2-demo")
    assert (endpoint.state, endpoint.config_name, endpoint.instance_type) == (SCALED_TO_ZERO, CONFIG, "ml.g4dn.xlarge")
    assert not endpoint.billed


def test_scale_up_re_creates_it_from_the_kept_config(sm):
    deployed(sm, "gpt2-demo", CONFIG)
    backend = AwsEndpoints()
    backend.scale_to_zero("gpt2-demo")
    calls = create_endpoint_calls()

    backend.scale_up("gpt2-demo")
    backend.scale_up("gpt2-demo")  # already up: nothing more

    assert [(c["EndpointName"], c["EndpointConfigName"]) for c in calls] == [("gpt2-demo", CONFIG)]
    assert sm.describe_endpoint(EndpointName="gpt2-demo")["EndpointStatus"] == "InService"
    assert backend.endpoint_describe("gpt2-demo").state == IN_SERVICE


def test_a_deleted_endpoint_is_found_from_its_stamped_config_without_redis(sm, redis_conn):
    deployed(sm, "gpt2-demo", CONFIG)
    sm.delete_endpoint(EndpointName="gpt2-demo")  # deleted elsewhere, never seen by this console
    redis_conn.flushdb()
    endpoint = AwsEndpoints().endpoint_describe("gpt2-demo")
    assert (endpoint.state, endpoint.config_name) == (SCALED_TO_ZERO, CONFIG)


def test_an_endpoint_with_nothing_to_come_back_from_is_failed_with_a_way_out(sm):
    endpoint = AwsEndpoints().endpoint_describe("gpt2-demo")
    assert endpoint.state == FAILED and "sagemaker_deploy --name gpt2-demo" in endpoint.failure_reason


def test_an_async_endpoint_scales_its_instances_to_zero_and_back(sm):
    deployed(
        sm,
        "xlnet-async",
        "xlnet-async-20250101-000000",
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://bucket/async/"}},
    )
    backend = AwsEndpoints()

    assert backend.scale_to_zero("xlnet-async").state == SCALED_TO_ZERO
    assert autoscaling.variant_bounds(endpoint="xlnet-async", variant="AllTraffic") == {"min": 0, "max": 0}
    [variant] = sm.describe_endpoint(EndpointName="xlnet-async")["ProductionVariants"]
    assert variant["CurrentInstanceCount"] == 0
    assert sm.list_endpoints()["Endpoints"]  # the endpoint itself stays

    assert backend.scale_up("xlnet-async").state == IN_SERVICE
    assert autoscaling.variant_bounds(endpoint="xlnet-async", variant="AllTraffic") == {"min": 0, "max": 1}
    [variant] = sm.describe_endpoint(EndpointName="xlnet-async")["ProductionVariants"]
    assert variant["CurrentInstanceCount"] == 1


def test_invoke_records_the_last_invocation(sm, runtime):
    deployed(sm, "gpt2-demo", CONFIG)
    runtime.seed_invoke_results(GPT2_ANSWER)
    answer = AwsEndpoints().invoke("gpt2-demo", body=b'{"inputs": "x"}', content_type="application/json", accept="*/*")
    assert b"generated_text" in answer.body
    assert "gpt2-demo" in records.last_invocations()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_generations_re_create_the_endpoint_once(sm, runtime, generations_table):
    from dashboard import generation

    deployed(sm, "gpt2-demo", CONFIG)
    AwsEndpoints().scale_to_zero("gpt2-demo")
    runtime.seed_invoke_results(GPT2_ANSWER)
    calls = create_endpoint_calls()
    params = generation.generation_params_clean(prompt="Once upon a time", max_new_tokens=5)
    barrier = threading.Barrier(20)
    outcomes: list[object] = []

    def generate() -> None:
        barrier.wait()
        try:
            outcomes.append(generation.generation_create(params=params, requested_by="alice"))
        except EndpointStarting as error:
            outcomes.append(error)

    threads = [threading.Thread(target=generate) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(calls) == 1
    assert len(outcomes) == 20
    assert any(isinstance(o, EndpointStarting) for o in outcomes)  # the one that started it, at least
    done = [o for o in outcomes if isinstance(o, dict)]
    assert all(o["status"] == "done" for o in done)
    assert sm.describe_endpoint(EndpointName="gpt2-demo")["EndpointConfigName"] == CONFIG


@pytest.mark.django_db
def test_the_power_check_deletes_an_idle_endpoint_and_the_next_request_re_creates_it(sm, settings):
    from dashboard.endpoints.control import endpoints_tick
    from dashboard.endpoints.demand import endpoint_ready

    settings.SAGEMAKER_ENDPOINTS = ["gpt2-demo"]
    settings.SAGEMAKER_IDLE_SCALE_AFTER = 900
    deployed(sm, "gpt2-demo", CONFIG)
    endpoints_tick(now=1000.0)
    records.invocation_record("gpt2-demo", now=1000.0)

    endpoints_tick(now=1899.0)
    assert sm.list_endpoints()["Endpoints"]
    endpoints_tick(now=1900.0)
    assert sm.list_endpoints()["Endpoints"] == []

    calls = create_endpoint_calls()
    with pytest.raises(EndpointStarting):
        endpoint_ready(name="gpt2-demo", now=5000.0)
    assert [c["EndpointConfigName"] for c in calls] == [CONFIG]
    endpoint_ready(name="gpt2-demo", now=5001.0)  # moto: InService at once


@pytest.mark.django_db
def test_a_paused_endpoint_stays_deleted_across_power_checks(sm, settings, staff):
    from dashboard.endpoints.control import endpoint_pause, endpoints_tick
    from dashboard.endpoints.demand import endpoint_ready
    from dashboard.exceptions import EndpointPaused

    settings.SAGEMAKER_ENDPOINTS = ["gpt2-demo"]
    deployed(sm, "gpt2-demo", CONFIG)
    calls = create_endpoint_calls()
    endpoint_pause(name="gpt2-demo", actor=staff)
    for now in (10.0, 10_000.0, 100_000.0):
        endpoints_tick(now=now)
        with pytest.raises(EndpointPaused):
            endpoint_ready(name="gpt2-demo", now=now)
    assert sm.list_endpoints()["Endpoints"] == [] and calls == []
    assert AwsEndpoints().endpoint_describe("gpt2-demo").state == SCALED_TO_ZERO
