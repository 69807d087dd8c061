"""EC2: describe, start, stop and reboot the GPU instances. The only module that talks to EC2.

Instances come back as plain dicts (see `_instance`); errors as our `Compute*` exceptions, so
nothing outside this module sees a boto3 response shape or a `ClientError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from dashboard.aws.clients import cached_client
from dashboard.exceptions import (
    ComputeCapacityError,
    ComputeError,
    ComputeNotFound,
    ComputeStateConflict,
    ComputeThrottled,
    ComputeUnauthorized,
)

_THROTTLING = {"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled"}
_CAPACITY = {"InsufficientInstanceCapacity", "InsufficientCapacity", "InstanceLimitExceeded"}
_UNAUTHORIZED = {"UnauthorizedOperation", "AuthFailure", "AccessDenied", "AccessDeniedException"}


def client():
    """The process's EC2 client (see dashboard/aws/clients.py)."""
    # Few quick attempts: the caller retries with backoff across ticks, so a web request never waits long.
    return cached_client(
        "ec2",
        endpoint_url=settings.EC2_ENDPOINT_URL,
        connect_timeout=3,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
    )


def error_translate(error: ClientError, operation: str) -> ComputeError:
    """Our exception for an EC2 error response."""
    code = error.response.get("Error", {}).get("Code", "") or "Unknown"
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    text = f"EC2 {operation}: {code}: {message}"
    if code == "IncorrectInstanceState":
        return ComputeStateConflict(text, code=code)
    if code in _CAPACITY:
        return ComputeCapacityError(text, code=code)
    if code in _THROTTLING:
        return ComputeThrottled(text, code=code)
    if code in _UNAUTHORIZED or code.startswith("UnauthorizedOperation"):
        return ComputeUnauthorized(text, code=code)
    if code.startswith("InvalidInstanceID"):
        return ComputeNotFound(text, code=code)
    return ComputeError(text, code=code)


def _call(operation: str, **kwargs: Any) -> dict:
    try:
        return getattr(client(), operation)(**kwargs)
    except ClientError as error:
        raise error_translate(error, operation) from error
    except BotoCoreError as error:
        raise ComputeError(f"EC2 is unreachable: {error}", code="EndpointUnreachable") from error


def _pages(operation: str, **kwargs: Any) -> Iterator[dict]:
    """Every response page of a listing, through boto3's paginator (NextToken handled there)."""
    try:
        yield from client().get_paginator(operation).paginate(**kwargs)
    except ClientError as error:
        raise error_translate(error, operation) from error
    except BotoCoreError as error:
        raise ComputeError(f"EC2 is unreachable: {error}", code="EndpointUnreachable") from error


def _instance(raw: dict[str, Any]) -> dict[str, Any]:
    launch = raw.get("LaunchTime")
    return {
        "id": raw["InstanceId"],
        "state": raw.get("State", {}).get("Name", "unknown"),
        "type": raw.get("InstanceType", ""),
        "launch_time": launch if isinstance(launch, datetime) else None,
        "public_address": raw.get("PublicIpAddress") or raw.get("PublicDnsName") or "",
        "private_address": raw.get("PrivateIpAddress") or "",
        "state_reason": (raw.get("StateReason") or {}).get("Message", "") or raw.get("StateTransitionReason", ""),
    }


def instances_describe(*, instance_ids: list[str]) -> list[dict[str, Any]]:
    """The instances with these ids, in the order given."""
    found: dict[str, dict[str, Any]] = {}
    for response in _pages("describe_instances", InstanceIds=list(instance_ids)):
        for reservation in response.get("Reservations", []):
            for raw in reservation.get("Instances", []):
                found[raw["InstanceId"]] = _instance(raw)
    return [found[i] for i in instance_ids if i in found]


def _changes(response: dict, key: str) -> dict[str, str]:
    return {change["InstanceId"]: change["CurrentState"]["Name"] for change in response.get(key, [])}


def instances_start(*, instance_ids: list[str]) -> dict[str, str]:
    """Start instances; returns each one's state after the call (usually `pending`)."""
    return _changes(_call("start_instances", InstanceIds=list(instance_ids)), "StartingInstances")


def instances_stop(*, instance_ids: list[str]) -> dict[str, str]:
    """Stop instances; returns each one's state after the call (usually `stopping`)."""
    return _changes(_call("stop_instances", InstanceIds=list(instance_ids)), "StoppingInstances")


def instances_reboot(*, instance_ids: list[str]) -> None:
    _call("reboot_instances", InstanceIds=list(instance_ids))
