"""The local backend's whole cycle under power management, with real gunicorn processes: scaled to zero,
started by the first request, in service, invoked, idle, scaled to zero by the power check, and
started again by the next request. Time moves through the injected `now`; the processes are real."""

from __future__ import annotations

import json
import time

import pytest

from dashboard.endpoints.base import FAILED, IN_SERVICE, SCALED_TO_ZERO
from dashboard.endpoints.control import endpoints_tick
from dashboard.endpoints.demand import endpoint_ready
from dashboard.exceptions import EndpointStarting
from tests.dashboard.endpoints.conftest import wait_for

GENERATE = json.dumps({"inputs": "The film", "parameters": {"max_new_tokens": 4}}).encode()


def _generate(backend, name: str) -> str:
    answer = backend.invoke(name, body=GENERATE, content_type="application/json", accept="application/json")
    return json.loads(answer.body)[0]["generated_text"]


@pytest.mark.django_db
def test_a_local_endpoint_starts_on_demand_goes_to_zero_when_idle_and_comes_back_on_the_next_request(
    local_endpoints, settings
):
    settings.SAGEMAKER_IDLE_SCALE_AFTER = 900
    settings.SAGEMAKER_MIN_IN_SERVICE = 600
    backend = local_endpoints
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    now = time.time()
    assert backend.endpoint_describe(name).state == SCALED_TO_ZERO

    with pytest.raises(EndpointStarting) as starting:
        endpoint_ready(name=name, backend=backend, now=now)
    assert starting.value.retry_after >= 1 and "Starting the endpoint" in str(starting.value)
    assert wait_for(backend, name, {IN_SERVICE, FAILED}).state == IN_SERVICE
    endpoint_ready(name=name, backend=backend, now=now + 30)  # in service: no error
    assert _generate(backend, name).startswith("The film")

    endpoints_tick(now=now + 300, backend=backend)  # idle, but not for long enough
    assert backend.endpoint_describe(name).state == IN_SERVICE

    # Idle time counts from the latest of the last request, the start and the first check that saw it up.
    decision = endpoints_tick(now=now + 300 + 900 + 60, backend=backend)
    assert decision is not None and name in decision.scale_to_zero
    assert backend.endpoint_describe(name).state == SCALED_TO_ZERO

    with pytest.raises(EndpointStarting):
        endpoint_ready(name=name, backend=backend, now=now + 2400)
    assert wait_for(backend, name, {IN_SERVICE, FAILED}).state == IN_SERVICE
    endpoint_ready(name=name, backend=backend, now=now + 2430)
    assert _generate(backend, name).startswith("The film")


@pytest.mark.django_db
def test_power_tick_stops_the_local_endpoints_when_make_run_stops(local_endpoints, settings):
    from django.core.management import call_command

    backend = local_endpoints
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    backend.scale_up(name)
    assert wait_for(backend, name, {IN_SERVICE, FAILED}).state == IN_SERVICE
    settings.COMPUTE_BACKEND = "ec2"  # only the endpoints: the local worker's stop has its own test
    settings.EC2_INSTANCE_IDS = []
    call_command("power_tick", "--once", "--stop-local-on-exit")
    assert backend.endpoint_describe(name).state == SCALED_TO_ZERO
