"""The ec2 backend and its adapter against a moto server over HTTP (real boto3)."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from dashboard.aws import ec2 as ec2_adapter
from dashboard.compute import backend
from dashboard.exceptions import (
    ComputeCapacityError,
    ComputeNotFound,
    ComputeStateConflict,
    ComputeThrottled,
    ComputeUnauthorized,
)
from tests.dashboard.power_support import ec2_fleet, ec2_state, fault_proxy, moto_reset, moto_url  # noqa: F401


def test_it_describes_starts_stops_and_reboots_the_configured_instance(ec2_fleet):
    fleet = backend()
    [instance_id] = fleet.instance_ids()
    [instance] = fleet.instances()
    assert (instance.id, instance.state, instance.type) == (instance_id, "stopped", "g5.xlarge")

    assert fleet.start(instance_id) == "pending"
    [instance] = fleet.instances()
    assert instance.state == "running"
    assert instance.launch_time is not None
    assert instance.private_address

    fleet.reboot(instance_id)
    assert fleet.stop(instance_id) == "stopping"
    assert ec2_state(ec2_fleet, instance_id) == "stopped"


def test_it_refuses_instances_it_does_not_manage(ec2_fleet):
    other = ec2_fleet["ids"][1]
    with pytest.raises(ComputeNotFound):
        backend().start(other)
    assert ec2_state(ec2_fleet, other) == "stopped"


@pytest.mark.parametrize(
    ("code", "exception"),
    [
        ("InsufficientInstanceCapacity", ComputeCapacityError),
        ("RequestLimitExceeded", ComputeThrottled),
        ("UnauthorizedOperation", ComputeUnauthorized),
    ],
)
def test_aws_errors_arrive_as_our_exceptions_over_http(fault_proxy, code, exception):
    fault_proxy.faults["StartInstances"] = code
    with pytest.raises(exception) as error:
        backend().start(backend().instance_ids()[0])
    assert code in str(error.value)
    assert error.value.code == code


def test_incorrect_instance_state_is_a_state_conflict():
    error = ClientError(
        {
            "Error": {
                "Code": "IncorrectInstanceState",
                "Message": "The instance is not in a state from which it can be started.",
            }
        },
        "StartInstances",
    )
    translated = ec2_adapter.error_translate(error, "start_instances")
    assert isinstance(translated, ComputeStateConflict)
    assert translated.retryable
